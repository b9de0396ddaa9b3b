CREATE TABLE "slack_signatures" (
	"signature" text PRIMARY KEY NOT NULL,
	"request_ts" bigint NOT NULL
);
--> statement-breakpoint
CREATE INDEX "slack_signatures_request_ts" ON "slack_signatures" USING btree ("request_ts");
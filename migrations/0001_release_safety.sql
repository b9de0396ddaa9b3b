CREATE TABLE "freezes" (
	"id" serial PRIMARY KEY NOT NULL,
	"environment" text NOT NULL,
	"scope" text NOT NULL,
	"reason" text NOT NULL,
	"created_by" text NOT NULL,
	"starts_at" timestamp with time zone NOT NULL,
	"ends_at" timestamp with time zone NOT NULL,
	"ended_at" timestamp with time zone,
	"ended_by" text
);
--> statement-breakpoint
DROP INDEX "releases_in_flight_version";--> statement-breakpoint
ALTER TABLE "releases" ADD COLUMN "kind" text DEFAULT 'release' NOT NULL;--> statement-breakpoint
ALTER TABLE "releases" ADD COLUMN "emergency" text;--> statement-breakpoint
ALTER TABLE "releases" ADD COLUMN "gates_from" integer;--> statement-breakpoint
ALTER TABLE "releases" ADD COLUMN "scheduled_for" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "freezes_open" ON "freezes" USING btree ("environment","ends_at") WHERE "freezes"."ended_at" is null;--> statement-breakpoint
CREATE UNIQUE INDEX "releases_in_flight_version" ON "releases" USING btree ("environment","semver") WHERE "releases"."state" in ('gating', 'awaiting_approval', 'scheduled', 'deploying', 'verifying');
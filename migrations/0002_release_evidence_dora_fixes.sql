CREATE TABLE "fix_notices" (
	"channel" text NOT NULL,
	"thread_ts" text NOT NULL,
	"semver" text NOT NULL,
	"version" text NOT NULL,
	"release_id" integer NOT NULL,
	"feedback_ids" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"claimed_at" timestamp with time zone,
	"posted_at" timestamp with time zone,
	CONSTRAINT "fix_notices_channel_thread_ts_semver_pk" PRIMARY KEY("channel","thread_ts","semver")
);
--> statement-breakpoint
CREATE TABLE "voided_approvals" (
	"id" serial PRIMARY KEY NOT NULL,
	"release_id" integer NOT NULL,
	"approver" text NOT NULL,
	"approved_at" timestamp with time zone NOT NULL,
	"evidence_digest" text,
	"evidence" jsonb,
	"voided_at" timestamp with time zone DEFAULT now() NOT NULL,
	"reason" text NOT NULL
);
--> statement-breakpoint
ALTER TABLE "approvals" ADD COLUMN "evidence_digest" text;--> statement-breakpoint
ALTER TABLE "approvals" ADD COLUMN "evidence" jsonb;--> statement-breakpoint
ALTER TABLE "feedback" ADD COLUMN "fixed_in" text;--> statement-breakpoint
ALTER TABLE "feedback" ADD COLUMN "fixed_version" text;--> statement-breakpoint
ALTER TABLE "feedback" ADD COLUMN "closed_by_release" integer;--> statement-breakpoint
ALTER TABLE "releases" ADD COLUMN "commits" jsonb;--> statement-breakpoint
ALTER TABLE "releases" ADD COLUMN "oldest_commit_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "releases" ADD COLUMN "evidence_digest" text;--> statement-breakpoint
ALTER TABLE "voided_approvals" ADD CONSTRAINT "voided_approvals_release_id_releases_id_fk" FOREIGN KEY ("release_id") REFERENCES "public"."releases"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "voided_approvals_release" ON "voided_approvals" USING btree ("release_id");--> statement-breakpoint
CREATE INDEX "feedback_fixed_in" ON "feedback" USING btree ("fixed_in") WHERE "feedback"."fixed_in" is not null;--> statement-breakpoint
CREATE INDEX "feedback_closed_by_release" ON "feedback" USING btree ("closed_at") WHERE "feedback"."closed_by_release" is not null;--> statement-breakpoint
CREATE INDEX "feedback_open_priority" ON "feedback" USING btree ("priority") WHERE "feedback"."deleted_at" is null and "feedback"."status" <> 'closed';
CREATE TABLE "ai_calls" (
	"id" serial PRIMARY KEY NOT NULL,
	"purpose" text NOT NULL,
	"model" text NOT NULL,
	"input_tokens" integer DEFAULT 0 NOT NULL,
	"output_tokens" integer DEFAULT 0 NOT NULL,
	"cache_read_tokens" integer DEFAULT 0 NOT NULL,
	"cache_write_tokens" integer DEFAULT 0 NOT NULL,
	"latency_ms" integer NOT NULL,
	"outcome" text NOT NULL,
	"error" text,
	"at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "approvals" (
	"release_id" integer NOT NULL,
	"approver" text NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "approvals_release_id_approver_pk" PRIMARY KEY("release_id","approver")
);
--> statement-breakpoint
CREATE TABLE "backfill_cursors" (
	"channel" text PRIMARY KEY NOT NULL,
	"latest_ts" text NOT NULL,
	"runs" bigint DEFAULT 0 NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "feedback" (
	"id" serial PRIMARY KEY NOT NULL,
	"team_id" text,
	"channel" text NOT NULL,
	"ts" text,
	"thread_ts" text,
	"author" text NOT NULL,
	"text" text NOT NULL,
	"edited_ts" text,
	"permalink" text,
	"source" text NOT NULL,
	"kind" text NOT NULL,
	"priority" text NOT NULL,
	"status" text DEFAULT 'open' NOT NULL,
	"theme" text,
	"sprint" text,
	"captured_by" text NOT NULL,
	"triaged_by" text,
	"posted_at" timestamp with time zone DEFAULT now() NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"closed_at" timestamp with time zone,
	"deleted_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "feedback_events" (
	"id" serial PRIMARY KEY NOT NULL,
	"feedback_id" integer NOT NULL,
	"kind" text NOT NULL,
	"actor" text,
	"detail" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "health_checks" (
	"id" serial PRIMARY KEY NOT NULL,
	"environment" text NOT NULL,
	"ok" boolean NOT NULL,
	"status_code" integer,
	"latency_ms" integer,
	"error" text,
	"at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "health_state" (
	"environment" text PRIMARY KEY NOT NULL,
	"ok" boolean NOT NULL,
	"since" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "job_runs" (
	"id" serial PRIMARY KEY NOT NULL,
	"job" text NOT NULL,
	"slot" timestamp with time zone NOT NULL,
	"trigger" text NOT NULL,
	"replica" text NOT NULL,
	"requested_by" text,
	"status" text NOT NULL,
	"summary" text,
	"output_tail" text,
	"details" jsonb,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone,
	"lease_until" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "release_transitions" (
	"id" serial PRIMARY KEY NOT NULL,
	"release_id" integer NOT NULL,
	"from_state" text,
	"to_state" text NOT NULL,
	"actor" text NOT NULL,
	"detail" text,
	"at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "releases" (
	"id" serial PRIMARY KEY NOT NULL,
	"version" text NOT NULL,
	"semver" text NOT NULL,
	"environment" text NOT NULL,
	"state" text NOT NULL,
	"revision" integer DEFAULT 0 NOT NULL,
	"requester" text NOT NULL,
	"required_approvals" integer NOT NULL,
	"channel" text,
	"message_ts" text,
	"gates" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"reason" text,
	"output_tail" text,
	"owner" text,
	"lease_until" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"awaiting_since" timestamp with time zone,
	"live_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "scheduler_heartbeats" (
	"replica" text PRIMARY KEY NOT NULL,
	"seen_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "slack_events" (
	"event_id" text PRIMARY KEY NOT NULL,
	"event_type" text NOT NULL,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "approvals" ADD CONSTRAINT "approvals_release_id_releases_id_fk" FOREIGN KEY ("release_id") REFERENCES "public"."releases"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "feedback_events" ADD CONSTRAINT "feedback_events_feedback_id_feedback_id_fk" FOREIGN KEY ("feedback_id") REFERENCES "public"."feedback"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "release_transitions" ADD CONSTRAINT "release_transitions_release_id_releases_id_fk" FOREIGN KEY ("release_id") REFERENCES "public"."releases"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "ai_calls_at" ON "ai_calls" USING btree ("at");--> statement-breakpoint
CREATE UNIQUE INDEX "feedback_message" ON "feedback" USING btree ("channel","ts");--> statement-breakpoint
CREATE INDEX "feedback_status" ON "feedback" USING btree ("status","posted_at");--> statement-breakpoint
CREATE INDEX "feedback_posted" ON "feedback" USING btree ("posted_at");--> statement-breakpoint
CREATE INDEX "feedback_channel_ts" ON "feedback" USING btree ("channel","thread_ts");--> statement-breakpoint
CREATE INDEX "feedback_closed" ON "feedback" USING btree ("closed_at") WHERE "feedback"."closed_at" is not null and "feedback"."deleted_at" is null;--> statement-breakpoint
CREATE INDEX "feedback_open_by_age" ON "feedback" USING btree ("posted_at","id") WHERE "feedback"."deleted_at" is null and "feedback"."status" <> 'closed';--> statement-breakpoint
CREATE INDEX "feedback_events_feedback" ON "feedback_events" USING btree ("feedback_id");--> statement-breakpoint
CREATE INDEX "health_checks_environment_at" ON "health_checks" USING btree ("environment","at");--> statement-breakpoint
CREATE UNIQUE INDEX "job_runs_slot" ON "job_runs" USING btree ("job","slot");--> statement-breakpoint
CREATE INDEX "job_runs_job_started" ON "job_runs" USING btree ("job","started_at");--> statement-breakpoint
CREATE INDEX "release_transitions_release" ON "release_transitions" USING btree ("release_id","id");--> statement-breakpoint
CREATE UNIQUE INDEX "releases_in_flight_version" ON "releases" USING btree ("environment","semver") WHERE "releases"."state" in ('gating', 'awaiting_approval', 'deploying', 'verifying');--> statement-breakpoint
CREATE UNIQUE INDEX "releases_one_deploy_per_environment" ON "releases" USING btree ("environment") WHERE "releases"."state" in ('deploying', 'verifying');--> statement-breakpoint
CREATE INDEX "releases_environment_live" ON "releases" USING btree ("environment","live_at");--> statement-breakpoint
CREATE INDEX "releases_state" ON "releases" USING btree ("state");
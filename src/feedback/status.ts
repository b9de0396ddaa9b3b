import { isNull, sql } from "drizzle-orm";
import { feedback } from "../db/schema.js";
import type { Feature } from "../feature.js";

export const feedbackStatusFeature: Feature = ({ services, status }) => {
  status.add({
    title: "Feedback",
    order: 40,
    render: async () => {
      const rows = await services.db
        .select({ status: feedback.status, priority: feedback.priority, count: sql<number>`count(*)::int` })
        .from(feedback)
        .where(isNull(feedback.deletedAt))
        .groupBy(feedback.status, feedback.priority);
      const byStatus = (s: string) => rows.filter((r) => r.status === s).reduce((n, r) => n + r.count, 0);
      const urgent = rows.filter((r) => r.status !== "closed" && (r.priority === "critical" || r.priority === "high")).reduce((n, r) => n + r.count, 0);
      return `${byStatus("open")} open, ${byStatus("in-progress")} in progress, ${byStatus("closed")} closed — ${urgent} open high/critical`;
    },
  });
};

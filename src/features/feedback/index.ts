/** The feedback feature's front door: the only file other features import. */
export { backlogByTheme, openUrgentCounts } from "./backlog.js";
export { fixFigures, settleFixes, type FixFigures } from "./fixes.js";
export { KINDS, mergeTriage } from "./keyword-triage.js";
export type { FeedbackTriager } from "./service.js";
export { carriesText, feedbackStats, statsFor, type Count, type FeedbackItem, type FeedbackStats } from "./stats.js";
export { applyClaudeTriage, awaitingTriage, recentFeedback, statusCounts } from "./store.js";
export { hiddenText, maySeeText, type Audience, type FeedbackAccess } from "./visibility.js";

// Compiled by .ci/clients.sh with `tsc --strict --noEmit` (no skipLibCheck) against the
// types openapi-typescript generates from openapi/openapi.json, as an app developer
// would use them. It fails to compile if an operation loses its own id, or if a field
// the server always sends becomes optional (`T | undefined` is not assignable below).
import type { components, operations } from "./generated/api";

type Schemas = components["schemas"];
type Json<Op extends keyof operations, Status extends number> =
  operations[Op]["responses"] extends { [S in Status]: { content: { "application/json": infer B } } } ? B : never;

// Always sent, null when suppressed or not computed.
export const count = (point: Schemas["Point"]): number | null => point.count;
export const alarm = (point: Schemas["Point"]): string | null => point.alarm;
export const rollingMean = (point: Schemas["Point"]): number | null => point.rolling_mean;
export const slope = (summary: Schemas["Summary"]): number | null => summary.theil_sen_slope;

// Each operation by its own id, with its own response type.
export const firstPeriod = (trends: Json<"get_trends", 200>): string | undefined =>
  trends.series[0]?.points[0]?.period;
export const alertAreas = (report: Json<"get_alerts", 200>): string[] => report.alerts.map((a) => a.area);
export const tokenNames = (tokens: Json<"list_api_tokens", 200>): string[] => tokens.map((t) => t.name);
export const areaCodes = (areas: Json<"list_areas", 200>): string[] => areas.map((a) => a.code);
export const usernames = (page: Json<"list_users", 200>): string[] => page.items.map((u) => u.username);
export const interventionNames = (page: Json<"list_interventions", 200>): string[] =>
  page.items.map((i) => i.name);
export const effectWeeks = (report: Json<"get_intervention_effect", 200>): number => report.series.length;

/**
 * The metric names a PromQL expression reads, without a PromQL parser: strings, label matchers,
 * range and offset durations, grouping clauses and function calls are removed, and what is left
 * that looks like an identifier is a metric name. Enough for the dashboard's queries, and strict:
 * a name this misses is a name the dashboard test cannot check, so the test also asserts that
 * every query yields at least one.
 */
const KEYWORDS = new Set(["by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "and", "or", "unless", "atan2", "inf", "nan"]);

export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""') // strings
    .replace(/\{[^}]*\}/g, " ") // label matchers
    .replace(/\[[^\]]*\]/g, " ") // ranges and subqueries
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ") // grouping labels
    .replace(/\boffset\s+\S+/g, " ")
    .replace(/\$\{?\w+\}?/g, " "); // Grafana variables
  const names = [...stripped.matchAll(/([A-Za-z_:][A-Za-z0-9_:]*)\s*(\()?/g)]
    .filter((m) => !m[2]) // a function call, not a metric
    .map((m) => m[1]!)
    .filter((n) => !KEYWORDS.has(n.toLowerCase()) && !/^\d/.test(n));
  return [...new Set(names)];
}

/** Grafana's `label_values(metric, label)` template query names one metric. */
export function templateMetric(query: string): string | undefined {
  return /label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)/.exec(query)?.[1];
}

/**
 * The series names an exposition text offers: every `# TYPE` line's name, with the series a
 * histogram (`_bucket`, `_sum`, `_count`) or summary (`_sum`, `_count`) expands to.
 */
export function exportedNames(exposition: string): Set<string> {
  const out = new Set<string>();
  for (const m of exposition.matchAll(/^# TYPE (\S+) (\w+)$/gm)) {
    const [, name, type] = m as unknown as [string, string, string];
    out.add(name);
    if (type === "histogram") for (const s of ["_bucket", "_sum", "_count"]) out.add(name + s);
    if (type === "summary") for (const s of ["_sum", "_count"]) out.add(name + s);
  }
  return out;
}

interface Panel {
  targets?: { expr?: string }[];
  panels?: Panel[];
}
interface Dashboard {
  panels: Panel[];
  templating?: { list: { query?: string | { query?: string } }[] };
}

/** Every PromQL expression of a Grafana dashboard (nested rows included) and its template queries' metrics. */
export function dashboardQueries(d: Dashboard): { exprs: string[]; templateMetrics: string[] } {
  const exprs: string[] = [];
  const walk = (ps: Panel[]) => {
    for (const p of ps) {
      for (const t of p.targets ?? []) if (t.expr) exprs.push(t.expr);
      if (p.panels) walk(p.panels);
    }
  };
  walk(d.panels);
  const templateMetrics = (d.templating?.list ?? [])
    .map((v) => templateMetric(typeof v.query === "string" ? v.query : (v.query?.query ?? "")))
    .filter((n): n is string => !!n);
  return { exprs, templateMetrics };
}

import { z } from "zod";

/**
 * The fields of a GitLab `Job Hook` delivery ingest reads. Job tags are not among them: they
 * come from `GET /projects/:id/jobs/:job_id`.
 */
export const GitlabJobPayload = z.object({
  object_kind: z.literal("build"),
  build_id: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  build_status: z.string().min(1).max(64),
  build_name: z.string().max(1024).optional(),
  pipeline_id: z.number().int().nonnegative().optional(),
  project_id: z.number().int().positive(),
  project_name: z.string().max(1024).optional(),
  retries_count: z.number().int().nonnegative().optional(),
  project: z
    .object({ path_with_namespace: z.string().min(1).max(256).optional() })
    .nullable()
    .optional(),
  runner: z
    .object({ id: z.number().int().nullable().optional(), description: z.string().max(1024).nullable().optional() })
    .nullable()
    .optional(),
});
export type GitlabJobPayload = z.infer<typeof GitlabJobPayload>;

/** Tags of a job as the GitLab API gave them, or why they could not be had (recorded in JobIgnored). */
export type GitlabTags = { ok: true; tags: string[] } | { ok: false; reason: string };

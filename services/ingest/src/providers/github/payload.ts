import { z } from "zod";

const login = z.string().min(1).max(256);

/**
 * The fields of a `workflow_job` delivery ingest reads (reference/github-gitlab.md); everything
 * else in the body is dropped. A body that does not match is a 400: redelivering it cannot help.
 */
export const WorkflowJobPayload = z.object({
  action: z.string().min(1).max(64),
  workflow_job: z.object({
    id: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
    run_id: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
    run_attempt: z.number().int().positive().optional(),
    labels: z.array(z.string().max(1024)).max(1000),
    runner_id: z.number().int().nullable().optional(),
    runner_name: z.string().max(256).nullable().optional(),
    status: z.string().max(64).nullable().optional(),
    conclusion: z.string().max(64).nullable().optional(),
  }),
  repository: z.object({
    full_name: z.string().min(1).max(256),
    owner: z.object({ login, type: z.string().max(64).optional() }),
  }),
  organization: z.object({ login }).nullable().optional(),
  /** Only on GitHub App deliveries: the broker mints runners with this installation. */
  installation: z.object({ id: z.number().int().positive() }).nullable().optional(),
});
export type WorkflowJobPayload = z.infer<typeof WorkflowJobPayload>;

import type { ProviderSetup } from "../registry.js";
import { localProvider } from "./provider.js";

export const localSetup = (): ProviderSetup => async () => localProvider();

/**
 * One server for the whole browser suite (vitest globalSetup, in the main process): booting wrangler
 * dev and migrating a database takes seconds, once per file was most of the suite's time. Files share
 * its database; every test makes its own people (`person()`), as within a file. A file that restarts
 * the server runs its own (`useHarness({ ownServer: true })`), so the shared one never goes away.
 */
import type { TestProject } from "vitest/node";
import { Server } from "./server";

declare module "vitest" {
  export interface ProvidedContext {
    browserServer: { port: number; persist: string };
  }
}

export default async function setup(project: TestProject) {
  const server = new Server();
  await server.start();
  project.provide("browserServer", { port: server.port, persist: server.persist });
  return () => server.dispose();
}

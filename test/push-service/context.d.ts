// What the push service stand-in (server.ts, Node side) hands to the tests inside workerd.
declare module "vitest" {
  export interface ProvidedContext {
    /** Base URL of the stand-in, e.g. http://127.0.0.1:40123 */
    pushServiceUrl: string;
  }
}

export {};

/** Set by web/vite.config.ts: true in the development build only (npm start, tests). */
declare const __DEV_SIGN_IN__: boolean;

/** Stylesheets are bundled by Vite (imported for their side effect). */
declare module "*.css";

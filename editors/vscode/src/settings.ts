/**
 * The settings the extension sends to toppass-ls, shaped without touching the `vscode` API so
 * that `node --test` can check them. VS Code stores every key flat under `toppass.` (for example
 * `toppass.openai.baseUrl`); the server reads the nested tree `{"toppass": {"openai": {...}}}`.
 */

/** The settings section; VS Code keys are `toppass.<key>`. */
export const SECTION = "toppass";

/**
 * Keys that configure the editor side only. They are contributed in package.json but never sent
 * to the server (which would log them as unknown keys).
 */
export const EDITOR_ONLY_KEYS: readonly string[] = ["serverPath", "serverArgs", "trace.server"];

/**
 * Server keys kept in VS Code's SecretStorage instead of settings: the command "toppass: Set API
 * key" stores them, and the extension sends them with the settings, never a value from
 * settings.json. package.json declares them deprecated (editors/generate_settings.py
 * SECRET_SETTINGS lists the same keys) only so that a value left there can be removed.
 */
export const SECRET_KEYS: readonly string[] = ["openai.apiKey"];

/** The server key of the API key, and its SecretStorage key. */
export const API_KEY_SETTING = "openai.apiKey";
export const API_KEY_SECRET = `${SECTION}.${API_KEY_SETTING}`;

/** One entry of package.json `contributes.configuration.properties`. */
export interface ConfigurationProperty {
  type: string | string[];
  default: unknown;
  description?: string;
  markdownDescription?: string;
  enum?: unknown[];
  deprecationMessage?: string;
}

export interface PackageJson {
  contributes: {
    configuration: { properties: Record<string, ConfigurationProperty> };
  };
}

/** The server's setting keys (without the `toppass.` prefix), in package.json order. */
export function serverSettingKeys(packageJson: PackageJson): string[] {
  const prefix = `${SECTION}.`;
  return Object.keys(packageJson.contributes.configuration.properties)
    .filter((key) => key.startsWith(prefix))
    .map((key) => key.slice(prefix.length))
    .filter((key) => !EDITOR_ONLY_KEYS.includes(key));
}

/**
 * The nested settings tree for the server from a lookup of flat keys. The extension looks keys
 * up with `WorkspaceConfiguration.get`, which falls back to package.json's defaults (the same as
 * the server's), so every key is sent and a setting the user removes goes back to its default
 * on the server too. A key whose lookup is `undefined` is left out.
 */
export function shapeServerSettings(
  keys: readonly string[],
  lookup: (key: string) => unknown,
): Record<string, unknown> {
  const tree: Record<string, unknown> = {};
  for (const key of keys) {
    const value = lookup(key);
    if (value === undefined) {
      continue;
    }
    const parts = key.split(".");
    let node = tree;
    for (const part of parts.slice(0, -1)) {
      const child = node[part];
      if (typeof child !== "object" || child === null) {
        node[part] = {};
      }
      node = node[part] as Record<string, unknown>;
    }
    node[parts[parts.length - 1]] = value;
  }
  return tree;
}

/**
 * The settings tree sent to the server: the contributed keys from `lookup`, and the API key from
 * SecretStorage. The key is always sent, null when none is stored, so that removing it reaches
 * the server (which then reads OPENAI_API_KEY, as without the extension).
 */
export function serverSettings(
  keys: readonly string[],
  lookup: (key: string) => unknown,
  apiKey: string | undefined,
): Record<string, unknown> {
  const secret = apiKey !== undefined && apiKey.trim() !== "" ? apiKey.trim() : null;
  const sent = keys.filter((key) => !SECRET_KEYS.includes(key));
  return shapeServerSettings([...sent, API_KEY_SETTING], (key) =>
    key === API_KEY_SETTING ? secret : lookup(key),
  );
}

/** The command line that starts the server: `toppass.serverPath` and `toppass.serverArgs`. */
export function serverCommand(
  serverPath: string | undefined,
  serverArgs: readonly string[] | undefined,
): { command: string; args: string[] } {
  const command = serverPath && serverPath.trim() !== "" ? serverPath.trim() : "toppass-ls";
  return { command, args: [...(serverArgs ?? []), "--stdio"] };
}

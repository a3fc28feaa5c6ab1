// Calls to kx-jupyter's server routes (kx_jupyter/server/): JSON in and out, with the
// server's token/XSRF handling from ServerConnection. A refusal carries the server's one-line
// message and hint.
import { URLExt } from "@jupyterlab/coreutils";
import { ServerConnection } from "@jupyterlab/services";

export class ApiError extends Error {
  constructor(message, hint = "") {
    super(message);
    this.hint = hint;
  }
}

export async function api(path, { method = "GET", body } = {}) {
  const settings = ServerConnection.makeSettings();
  const init = { method };
  if (body !== undefined) init.body = JSON.stringify(body);
  let response;
  try {
    response = await ServerConnection.makeRequest(URLExt.join(settings.baseUrl, "kx-jupyter", path), init, settings);
  } catch (error) {
    throw new ApiError(`cannot reach the Jupyter server: ${error.message}`);
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    throw new ApiError((data && data.message) || `${response.status} ${response.statusText}`, (data && data.hint) || "");
  }
  return data;
}

export function query(params) {
  const parts = Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== "");
  return parts.length ? "?" + parts.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&") : "";
}

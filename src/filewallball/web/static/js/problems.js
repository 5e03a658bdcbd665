// What went wrong, in plain words: the API answers errors as problem+json (title, detail).
import { t } from "./i18n.js";

const KNOWN = new Set([400, 401, 403, 404, 408, 410, 413, 415, 422, 429, 503]);

/**
 * A sentence in the page's language for an error status, followed by the server's own
 * detail (in English) when it says more; `body` is the answer's text, if any.
 */
export function describe(status, body) {
  const headline = status === 0 ? t("error.network") : KNOWN.has(status) ? t(`error.${status}`) : t("error.other");
  let detail = "";
  try {
    const problem = JSON.parse(body || "");
    detail = problem.detail || problem.title || "";
  } catch {
    // Not a problem document (a proxy's page, or nothing at all): the headline says enough.
  }
  return detail && detail !== headline ? `${headline} ${detail}` : headline;
}

/** fetch(), but an error answer throws an Error whose message is describe()'s. */
export async function request(url, options = {}) {
  let response;
  try {
    response = await fetch(url, options);
  } catch {
    throw new Error(describe(0, ""));
  }
  if (!response.ok) {
    const error = new Error(describe(response.status, await response.text()));
    error.status = response.status;
    throw error;
  }
  return response;
}

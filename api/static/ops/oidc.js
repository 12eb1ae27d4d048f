// OpenID Connect authorization code with PKCE (RFC 7636, S256), as a public client: the page sends
// the person to the identity provider, which sends them back here with a code; the page trades it,
// with the verifier only this tab knows, for a token.
const PENDING = "docket.oidc";

function randomText(bytes) {
  return encode(crypto.getRandomValues(new Uint8Array(bytes)));
}

function encode(buffer) {
  let binary = "";
  for (const byte of new Uint8Array(buffer)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function returnAddress() {
  return `${location.origin}${location.pathname}`;
}

export async function beginSignIn(provider) {
  const verifier = randomText(48);
  const state = randomText(24);
  const challenge = encode(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state }));
  const target = new URL(provider.authorization_endpoint);
  const params = {
    response_type: "code", client_id: provider.client_id, redirect_uri: returnAddress(), scope: provider.scope,
    state, code_challenge: challenge, code_challenge_method: "S256",
  };
  for (const [name, value] of Object.entries(params)) target.searchParams.set(name, value);
  location.assign(target.toString());
}

// The token, when the identity provider has just sent the person back here; null otherwise.
export async function finishSignIn(provider) {
  const answer = new URLSearchParams(location.search);
  if (!answer.has("code") && !answer.has("error")) return null;
  history.replaceState(null, "", `${location.pathname}${location.hash}`); // the code is not to be bookmarked
  const pending = JSON.parse(sessionStorage.getItem(PENDING) || "null");
  sessionStorage.removeItem(PENDING);
  // The state first: an answer to a sign-in this tab did not start (a crafted link, say) is not read at all.
  if (!provider || !pending || answer.get("state") !== pending.state) throw new Error("This sign-in was not started in this tab; sign in again.");
  if (answer.has("error")) throw new Error(`The identity provider did not sign you in: ${answer.get("error_description") || answer.get("error")}.`);
  const response = await fetch(provider.token_endpoint, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code", code: answer.get("code"), redirect_uri: returnAddress(),
      client_id: provider.client_id, code_verifier: pending.verifier,
    }),
  });
  const body = await response.json().catch(() => null);
  if (!response.ok || !body || typeof body.access_token !== "string") {
    throw new Error(`The identity provider refused the sign-in code: ${(body && (body.error_description || body.error)) || response.status}.`);
  }
  return body.access_token;
}

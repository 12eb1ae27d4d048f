// The API, called with the person's token. Errors carry the API's own sentence.
export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `The API answered ${status}.`);
    this.status = status;
    this.code = body && body.code;
  }
}

export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params || {})) {
    for (const one of Array.isArray(value) ? value : [value]) {
      if (one !== null && one !== undefined && String(one).trim() !== "") search.append(name, String(one).trim());
    }
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

export async function get(token, path, params) {
  const response = await fetch(path + query(params), {
    headers: { Authorization: `Bearer ${token}`, Accept: "application/json" },
    cache: "no-store",
  });
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

// Server-Sent Events read with fetch, which (unlike EventSource) can send the Authorization
// header: the token never goes into a URL. Reconnects with a growing pause; stop() ends it.
export function stream(token, path, params, on) {
  const control = new AbortController();
  let pause = 1000;
  const run = async () => {
    while (!control.signal.aborted) {
      try {
        const response = await fetch(path + query(params), {
          headers: { Authorization: `Bearer ${token}`, Accept: "text/event-stream" },
          cache: "no-store",
          signal: control.signal,
        });
        if (!response.ok) {
          const body = await response.json().catch(() => null);
          on.refused(new ApiError(response.status, body));
          if (response.status < 500) return;
        } else {
          on.open();
          pause = 1000;
          await readEvents(response.body, on.event);
        }
      } catch (error) {
        if (control.signal.aborted) return;
      }
      on.closed();
      await new Promise((resolve) => setTimeout(resolve, pause));
      pause = Math.min(pause * 2, 15000);
    }
  };
  run();
  return () => control.abort();
}

async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      dispatch(buffer.slice(0, end), onEvent);
      buffer = buffer.slice(end + 2);
    }
  }
}

function dispatch(block, onEvent) {
  let name = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue; // a heartbeat
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") name = value;
    else if (field === "data") data.push(value);
  }
  if (!data.length) return;
  try {
    onEvent(name, JSON.parse(data.join("\n")));
  } catch (error) {
    // not JSON: not ours to show
  }
}

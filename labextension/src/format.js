// Small text helpers shared by the sidebar, the notifications and the status bar.

export function shortSha(sha) {
  return sha ? sha.slice(0, 12) : "?";
}

// When something happened: the time today, else the date and time (local).
export function at(seconds) {
  const when = new Date(seconds * 1000);
  const time = when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  return when.toDateString() === new Date().toDateString() ? `at ${time}` : `on ${when.toLocaleDateString()} ${time}`;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "";
  return seconds < 60 ? `${seconds.toFixed(1)}s` : `${Math.floor(seconds / 60)}m ${Math.round(seconds % 60)}s`;
}

// "push #7" / "rollback #9 (to #4)"
export function entryName(entry) {
  const back = entry.kind === "rollback" && entry.rollback_of ? ` (to #${entry.rollback_of})` : "";
  return `${entry.kind} #${entry.id}${back}`;
}

// One line for a finished history entry: what a notification says.
export function outcomeLine(entry) {
  const what = `${entry.cluster}: ${entryName(entry)}`;
  if (entry.outcome === "succeeded") {
    return `${what} succeeded in ${duration(entry.duration)} (${entry.strategy}, bundle ${shortSha(entry.bundle_sha256)})`;
  }
  const reason = entry.reason ? `: ${entry.reason}` : "";
  return `${what} ${entry.outcome}${reason}`;
}

// Does a history entry deploy the code a cluster runs now (same object, same version when both say)?
export function runsNow(cluster, entry) {
  const code = cluster.code || {};
  return !!code.s3Key && entry.key === code.s3Key
    && (!entry.version || !code.s3ObjectVersion || entry.version === code.s3ObjectVersion);
}

// A DOM element: h("div", {class: "x", onclick: fn}, child, "text", ...)
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

// Outpost's web console: a single page over the registry's JSON API, served
// by the Worker beside it (web/console). It decides nothing the API does not:
// every action goes through the same routes, gates and roles as the CLI, and
// a refused one shows the registry's problem detail.
import { render } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import "uplot/dist/uPlot.min.css";
import { can, session, signIn, signOut } from "./api.js";
import { useRoute } from "./route.js";
import { Problem } from "./ui.jsx";
import { AuditPage } from "./pages/audit.jsx";
import { ModelPage } from "./pages/model.jsx";
import { ModelsPage } from "./pages/models.jsx";
import { SettingsPage } from "./pages/settings.jsx";
import { VersionPage } from "./pages/version.jsx";

function SignIn({ onSignedIn, notice }) {
  const [org, setOrg] = useState("");
  const [token, setToken] = useState("");
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event) => {
    event.preventDefault();
    // A second press while checking does nothing; the button stays focusable.
    if (busy) return;
    setBusy(true);
    setError(null);
    try {
      onSignedIn(await signIn(org.trim(), token.trim()));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main id="main" class="signin">
      <h1>Sign in to Outpost</h1>
      {notice ? <p class="problem" role="alert">Signed out: {notice}</p> : null}
      <p>Use a token of your organisation (<code>outpost token create</code>). It is kept for this tab only.</p>
      <form onSubmit={submit} data-testid="signin">
        <label>Organisation<input name="org" autocomplete="organization" required value={org} onInput={(e) => setOrg(e.currentTarget.value)} /></label>
        <label>Token<input name="token" type="password" autocomplete="off" required value={token} onInput={(e) => setToken(e.currentTarget.value)} /></label>
        <button type="submit" aria-disabled={busy ? "true" : undefined}>{busy ? "Checking…" : "Sign in"}</button>
      </form>
      <Problem error={error} what="Sign-in failed" />
    </main>
  );
}

function Page({ route }) {
  const [first, ...rest] = route.parts;
  if (!first || first === "models") {
    if (rest.length === 0) return <ModelsPage params={route.params} />;
    if (rest.length === 1) return <ModelPage key={rest[0]} name={rest[0]} params={route.params} />;
    if (rest.length === 3 && rest[1] === "versions") return <VersionPage key={`${rest[0]}@${rest[2]}`} model={rest[0]} version={rest[2]} params={route.params} />;
  }
  if (first === "audit" && can("operator")) return <AuditPage params={route.params} />;
  if (first === "settings" && can("admin")) return <SettingsPage />;
  return <p role="alert">There is no page at <code>{location.hash}</code>. <a href="#/models">Models</a></p>;
}

function App() {
  const [who, setWho] = useState(session);
  const [notice, setNotice] = useState(null);
  const route = useRoute();
  useEffect(() => {
    const out = (event) => {
      setNotice(event.detail);
      setWho(null);
    };
    window.addEventListener("outpost:signed-out", out);
    return () => window.removeEventListener("outpost:signed-out", out);
  }, []);
  const current = route.parts[0] ?? "models";
  const opened = useRef(true);
  useEffect(() => {
    // The tab says where it is; focus follows a change of page (or signing
    // in or out) to the page's heading, so that it is read out.
    document.title = who
      ? `${[...route.parts].reverse().join(" · ") || "models"} — Outpost console`
      : "Sign in — Outpost console";
    // Not on the first page of the visit: the browser's own start is right.
    if (opened.current) {
      opened.current = false;
      return;
    }
    const target = document.querySelector("#main h1") ?? document.getElementById("main");
    target?.setAttribute("tabindex", "-1");
    target?.focus({ preventScroll: true });
  }, [route.parts.join("/"), !!who]);
  if (!who) return <SignIn notice={notice} onSignedIn={(s) => { setNotice(null); setWho(s); }} />;
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById("main")?.focus(); }}>Skip to content</a>
      <header class="top">
        <a class="brand" href="#/models">Outpost</a>
        <nav aria-label="Console">
          <a href="#/models" aria-current={current === "models" ? "page" : undefined}>Models</a>
          {can("operator") ? <a href="#/audit" aria-current={current === "audit" ? "page" : undefined}>Audit</a> : null}
          {can("admin") ? <a href="#/settings" aria-current={current === "settings" ? "page" : undefined}>Settings</a> : null}
        </nav>
        <span class="who" data-testid="who" data-role={who.role}>{who.tokenName} · {who.role} · {who.org}</span>
        <button type="button" onClick={() => { signOut(); setWho(null); }}>Sign out</button>
      </header>
      <main id="main" tabindex="-1">
        <Page route={route} />
      </main>
    </>
  );
}

// The page's "Loading…" placeholder goes: render() adds to what is there.
const root = document.getElementById("app");
root.textContent = "";
render(<App />, root);

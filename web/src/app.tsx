import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef } from "react";
import { AccountGate, useAccount } from "./account.js";
import { Link, segments, useLocation } from "./router.js";
import { setApiKey, useApiKey } from "./session.js";
import { ProjectsScreen } from "./screens/projects.js";
import { SignInScreen } from "./screens/sign-in.js";
import { ToolsetScreen, isTab } from "./screens/toolset.js";
import { ToolsetsScreen } from "./screens/toolsets.js";
import { NoticeProvider } from "./ui/notices.js";

export function App() {
  const key = useApiKey();
  if (key === null) return <SignInScreen />;
  return (
    <AccountGate fallback={(error) => <SignInScreen error={error} />}>
      <NoticeProvider>
        <Shell />
      </NoticeProvider>
    </AccountGate>
  );
}

function Shell() {
  const { caller, readOnly } = useAccount();
  const queryClient = useQueryClient();
  const signOut = () => {
    setApiKey(null);
    queryClient.clear();
  };
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <Link to="/" className="brand">
          Toolset console
        </Link>
        <span className="who">
          {caller.organization?.name ?? caller.organization?.slug} · key “{caller.keyName}”{readOnly ? " · read-only" : ""}
        </span>
        <button type="button" className="secondary small" onClick={signOut}>
          Sign out
        </button>
      </header>
      {readOnly && (
        <p className="readonly-note">
          <strong>Read-only:</strong> this key has the consumer scope, so it can look at everything here but change nothing.
        </p>
      )}
      <Main />
    </>
  );
}

/** The page content; after an in-app navigation focus moves to it, as a page load would, unless a control in it still has focus. */
function Main() {
  const { path } = useLocation();
  const ref = useRef<HTMLElement>(null);
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    // A control that survived the navigation (a tab, the view toggle) keeps focus.
    const active = document.activeElement;
    if (active && active !== document.body && ref.current?.contains(active)) return;
    ref.current?.focus({ preventScroll: true });
  }, [path]);
  return (
    <main id="main" ref={ref} tabIndex={-1}>
      <Routes />
    </main>
  );
}

function Routes() {
  const { path } = useLocation();
  const s = segments(path);
  if (s.length === 0) return <ProjectsScreen />;
  if (s[0] === "projects" && s.length === 2) return <ToolsetsScreen project={s[1]!} />;
  if (s[0] === "projects" && s[2] === "toolsets" && s.length >= 4) {
    const [, project, , slug, tab = "overview", release] = s;
    if (s.length === 6 && tab === "releases" && /^[1-9][0-9]*$/.test(release!)) {
      return <ToolsetScreen project={project!} slug={slug!} tab="releases" release={BigInt(release!)} />;
    }
    if (s.length <= 5 && isTab(tab)) return <ToolsetScreen project={project!} slug={slug!} tab={tab} />;
  }
  return (
    <section>
      <h1>Page not found</h1>
      <p>
        There is nothing at this address. <Link to="/">Go to the projects</Link>.
      </p>
    </section>
  );
}

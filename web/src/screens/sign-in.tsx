import { useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { useTitle } from "../router.js";
import { setApiKey } from "../session.js";
import { ProblemAlert } from "../ui/problem.js";

/** Asks for an API key once; it is kept for this browser session only. */
export function SignInScreen({ error }: { error?: unknown }) {
  const [key, setKey] = useState("");
  const queryClient = useQueryClient();
  useTitle("Sign in");
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const k = key.trim();
    if (k === "") return;
    // Nothing read with another key may show under this one.
    queryClient.clear();
    setApiKey(k);
  };
  return (
    <main id="main" className="sign-in">
      <h1>Sign in</h1>
      <p>Paste an API key of your organization. A producer key can edit, publish and roll back; a consumer key can look.</p>
      <form onSubmit={submit}>
        <div className="field">
          <label htmlFor="api-key">API key</label>
          <input
            id="api-key"
            // Masked by CSS rather than type="password": a password field makes the
            // browser offer to save the key to its password manager, on disk.
            type="text"
            className="secret"
            autoComplete="off"
            spellCheck={false}
            value={key}
            onChange={(e) => setKey(e.target.value)}
            aria-describedby="api-key-hint"
            required
          />
          <p id="api-key-hint" className="hint">
            Kept in this browser tab’s session storage until you sign out or close it; never saved elsewhere or put in a URL.
          </p>
        </div>
        {error !== undefined && <ProblemAlert error={error} />}
        <button type="submit">Sign in</button>
      </form>
    </main>
  );
}

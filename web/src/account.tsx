import { useQuery } from "@connectrpc/connect-query";
import { useQuery as useTanstackQuery } from "@tanstack/react-query";
import { createContext, useContext, type ReactNode } from "react";
import { AccountService, KeyScope, type GetCallerResponse } from "../../gen/accounts/v1/accounts_pb.js";
import { BASE } from "./router.js";

/** Who is signed in, and what the console needs to know about the deployment. */
export interface Account {
  caller: GetCallerResponse;
  /** A consumer key reads only: write controls are not offered. */
  readOnly: boolean;
  /** The MCP gateway's base URL (GATEWAY_PUBLIC_URL); empty when the service does not know it. */
  gatewayUrl: string;
}

const AccountContext = createContext<Account | null>(null);

/** The signed-in account; only below {@link AccountGate}. */
export function useAccount(): Account {
  const a = useContext(AccountContext);
  if (!a) throw new Error("useAccount outside AccountGate");
  return a;
}

interface ConsoleConfig {
  gatewayUrl: string;
}

async function fetchConfig(): Promise<ConsoleConfig> {
  const res = await fetch(`${BASE}/config.json`, { headers: { accept: "application/json" } });
  if (!res.ok) return { gatewayUrl: "" };
  const body = (await res.json()) as Partial<ConsoleConfig>;
  return { gatewayUrl: typeof body.gatewayUrl === "string" ? body.gatewayUrl : "" };
}

/** Resolves the key to an account (GetCaller) before rendering `children`; `fallback` renders a failure. */
export function AccountGate({ children, fallback }: { children: ReactNode; fallback: (error: unknown) => ReactNode }) {
  const caller = useQuery(AccountService.method.getCaller, {}, { retry: false, staleTime: 5 * 60_000 });
  const config = useTanstackQuery({ queryKey: ["console-config"], queryFn: fetchConfig, staleTime: Infinity });
  if (caller.error) return <>{fallback(caller.error)}</>;
  if (!caller.data || !config.data) return <p aria-busy="true">Signing in…</p>;
  const account: Account = {
    caller: caller.data,
    readOnly: caller.data.scope !== KeyScope.PRODUCER,
    gatewayUrl: config.data.gatewayUrl,
  };
  return <AccountContext.Provider value={account}>{children}</AccountContext.Provider>;
}

import type { ServiceImpl } from "@connectrpc/connect";
import type { AccountService } from "../../gen/accounts/v1/accounts_pb.js";
import type { ServiceContext } from "../context.js";
import { callerMethods } from "./caller.js";
import { projectMethods } from "./projects.js";

/** accounts.v1.AccountService. */
export function accountService(context: ServiceContext): ServiceImpl<typeof AccountService> {
  return { ...callerMethods(context), ...projectMethods(context) };
}

export { callHttpTool, type HttpTool, type UpstreamCallOptions, type UpstreamCallResult, type UpstreamOutcome } from "./call.js";
export {
  parseUpstreamAllowList,
  UpstreamGuard,
  UpstreamRefusedError,
  type AllowedHost,
  type AllowedNetwork,
  type ResolvedAddress,
  type UpstreamAllowList,
  type UpstreamLookup,
} from "./guard.js";

/**
 * useInfiniteQuery options for every list of this API: the request's
 * page_token takes the previous response's next_page_token, and an empty one
 * means the last page.
 */
export const byPageToken = {
  pageParamKey: "pageToken",
  getNextPageParam: (last: { nextPageToken: string }) => last.nextPageToken || undefined,
} as const;

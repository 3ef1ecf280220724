/** The pager of a long list: one more page per press. */
export function LoadMore({ hasMore, loading, onMore, what }: { hasMore: boolean; loading: boolean; onMore: () => void; what: string }) {
  if (!hasMore) return null;
  return (
    <p>
      <button type="button" className="secondary" disabled={loading} onClick={onMore}>
        {loading ? "Loading…" : `Load more ${what}`}
      </button>
    </p>
  );
}

/** Every page of a list, following next_page_token from the first (at most 50 pages, so a token loop ends). */
export async function allPages<T>(fetch: (pageToken: string) => Promise<{ items: T[]; nextPageToken: string }>): Promise<T[][]> {
  const pages: T[][] = [];
  let token = "";
  do {
    const page = await fetch(token);
    pages.push(page.items);
    token = page.nextPageToken;
  } while (token !== "" && pages.length < 50);
  return pages;
}

/** The page lengths of `total` items in pages of `size`. */
export function pageLengths(total: number, size: number): number[] {
  return Array.from({ length: Math.ceil(total / size) }, (_, i) => Math.min(size, total - i * size));
}

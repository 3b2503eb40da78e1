package dev.extend;

import java.util.List;

/**
 * One page of a listing in a stable order.
 *
 * @param items the items of this page
 * @param nextCursor opaque cursor of the next page, or null when this is the last
 * @param <T> item type
 */
public record Page<T>(List<T> items, String nextCursor) {
  /** Copies the list. */
  public Page {
    items = List.copyOf(items);
  }
}

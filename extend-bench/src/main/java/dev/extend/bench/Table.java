package dev.extend.bench;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;

/**
 * The bench's result: rows of metric, value, unit and an optional ratio with notes, printed as
 * aligned plain text, plus footer lines.
 */
public final class Table {
  /**
   * One measured figure.
   *
   * @param metric what was measured (stable names; the smoke test looks them up)
   * @param value the figure
   * @param unit its unit
   * @param ratio a ratio against the named reference, or null when none applies
   * @param notes what the ratio compares with, and other context
   */
  public record Row(String metric, double value, String unit, Double ratio, String notes) {}

  private final List<Row> rows = new ArrayList<>();
  private final List<String> footer = new ArrayList<>();

  /** Adds a row without a ratio. */
  void add(String metric, double value, String unit, String notes) {
    rows.add(new Row(metric, value, unit, null, notes));
  }

  /** Adds a row with a ratio. */
  void add(String metric, double value, String unit, double ratio, String notes) {
    if (!Double.isFinite(ratio)) {
      // the reference was not measured in this run (see --only)
      rows.add(new Row(metric, value, unit, null, "(reference not measured) " + notes));
      return;
    }
    rows.add(new Row(metric, value, unit, ratio, notes));
  }

  /** Adds a line below the table. */
  void note(String line) {
    footer.add(line);
  }

  /** The rows, in order. */
  public List<Row> rows() {
    return Collections.unmodifiableList(rows);
  }

  /** The footer lines. */
  public List<String> footer() {
    return Collections.unmodifiableList(footer);
  }

  /** The row named {@code metric}, or null. */
  public Row row(String metric) {
    for (Row r : rows) {
      if (r.metric().equals(metric)) {
        return r;
      }
    }
    return null;
  }

  /** Prints the table. */
  public void print(PrintStream out) {
    String[] head = {"metric", "value", "unit", "ratio / notes"};
    List<String[]> cells = new ArrayList<>();
    for (Row r : rows) {
      String ratio = r.ratio() == null ? "" : String.format(Locale.ROOT, "%.2fx ", r.ratio());
      cells.add(new String[] {r.metric(), format(r.value()), r.unit(), (ratio + (r.notes() == null ? "" : r.notes())).strip()});
    }
    int[] w = new int[3];
    for (int i = 0; i < 3; i++) {
      w[i] = head[i].length();
      for (String[] c : cells) {
        w[i] = Math.max(w[i], c[i].length());
      }
    }
    String fmt = "%-" + w[0] + "s  %" + w[1] + "s  %-" + w[2] + "s  %s%n";
    out.printf(Locale.ROOT, fmt, (Object[]) head);
    out.println("-".repeat(w[0] + w[1] + w[2] + 6 + 40));
    for (String[] c : cells) {
      out.printf(Locale.ROOT, fmt, (Object[]) c);
    }
    out.println();
    for (String f : footer) {
      out.println(f);
    }
    out.flush();
  }

  static String format(double v) {
    if (Double.isNaN(v) || Double.isInfinite(v)) {
      return String.valueOf(v);
    }
    double a = Math.abs(v);
    if (a >= 1000) {
      return String.format(Locale.ROOT, "%,.0f", v);
    }
    if (a >= 100) {
      return String.format(Locale.ROOT, "%.1f", v);
    }
    if (a >= 1) {
      return String.format(Locale.ROOT, "%.2f", v);
    }
    return String.format(Locale.ROOT, "%.3f", v);
  }
}

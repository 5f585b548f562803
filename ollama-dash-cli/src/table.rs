//! Plain-text tables in `ollama list`'s style: upper-case headers, left-aligned columns padded
//! with spaces, no borders.

/// A table being built: headers, then rows of the same width.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

/// Spaces between columns (`ollama list` uses tabwriter with a padding of 3–4).
const GAP: usize = 4;

impl Table {
    /// A table with these column headers.
    pub(crate) fn new(headers: &[&str]) -> Self {
        Self {
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (missing cells are empty, extra ones dropped).
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        let mut cells = cells;
        cells.resize(self.headers.len(), String::new());
        self.rows.push(cells);
    }

    /// The widths every column needs.
    fn widths(&self) -> Vec<usize> {
        (0..self.headers.len())
            .map(|i| {
                std::iter::once(&self.headers[i])
                    .chain(self.rows.iter().map(|r| &r[i]))
                    .map(|c| c.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect()
    }

    /// One line of `cells` at `widths` (no trailing spaces).
    fn line(cells: &[String], widths: &[usize]) -> String {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if i + 1 < cells.len() {
                let pad = widths[i] - cell.chars().count() + GAP;
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.trim_end().to_owned()
    }

    /// Like [`render`](Self::render), but each column at least `min_widths` wide (so later
    /// batches of `traces --follow` line up with the first), the header only when asked.
    pub(crate) fn render_at_least(&self, min_widths: &[usize], with_header: bool) -> String {
        let widths: Vec<usize> = self
            .widths()
            .iter()
            .enumerate()
            .map(|(i, w)| (*w).max(min_widths.get(i).copied().unwrap_or(0)))
            .collect();
        let header = with_header.then_some(&self.headers);
        header
            .into_iter()
            .chain(&self.rows)
            .map(|r| Self::line(r, &widths) + "\n")
            .collect()
    }

    /// The whole table, one line per row, each ending in a newline.
    pub(crate) fn render(&self) -> String {
        let widths = self.widths();
        std::iter::once(&self.headers)
            .chain(&self.rows)
            .map(|r| Self::line(r, &widths) + "\n")
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_and_lines_have_no_trailing_spaces() {
        let mut table = Table::new(&["NAME", "SIZE"]);
        table.row(vec!["llama3.2:1b".to_owned(), "1.3 GB".to_owned()]);
        table.row(vec!["a".to_owned(), String::new()]);
        assert_eq!(
            table.render(),
            "NAME           SIZE\nllama3.2:1b    1.3 GB\na\n"
        );
    }
}

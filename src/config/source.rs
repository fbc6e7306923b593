//! Where each key is written in the file, so problems found after parsing (a bad email, an
//! unknown key) can still name their line.

use std::collections::HashMap;

use toml::de::{DeTable, DeValue};

use super::Problem;

/// One step of a key path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// Renders `[Key(staff), Index(1), Key(email)]` as `staff[1].email`.
pub(crate) fn render_path(segs: &[Seg]) -> String {
    let mut out = String::new();
    for seg in segs {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Key path → line, built once from the spanned parse of the file.
pub(crate) struct SourceMap {
    lines: HashMap<String, usize>,
    line_starts: Vec<usize>,
}

impl SourceMap {
    /// Parses `text` for positions; a syntax error becomes a problem with its line.
    pub(crate) fn parse(text: &str) -> Result<SourceMap, Problem> {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        let mut map = SourceMap {
            lines: HashMap::new(),
            line_starts,
        };
        let root = DeTable::parse(text).map_err(|e| Problem {
            key: String::new(),
            line: e.span().map(|s| map.line_of_offset(s.start)),
            env: None,
            message: format!("not valid TOML: {}", e.message().trim()),
        })?;
        map.walk_table(&mut Vec::new(), root.get_ref());
        Ok(map)
    }

    /// 1-based line of a byte offset.
    pub(crate) fn line_of_offset(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&start| start <= offset)
    }

    /// The line of `key`, or of its nearest written parent (an unknown key inside a section
    /// written in the file points at that section).
    pub(crate) fn line_of_key(&self, key: &str) -> Option<usize> {
        let mut k = key;
        loop {
            if let Some(line) = self.lines.get(k) {
                return Some(*line);
            }
            let cut = k.rfind(['.', '['])?;
            k = &k[..cut];
        }
    }

    fn walk_table(&mut self, path: &mut Vec<Seg>, table: &DeTable<'_>) {
        for (key, value) in table.iter() {
            path.push(Seg::Key(key.get_ref().to_string()));
            let line = self.line_of_offset(key.span().start);
            self.lines.entry(render_path(path)).or_insert(line);
            self.walk_value(path, value.get_ref());
            path.pop();
        }
    }

    fn walk_value(&mut self, path: &mut Vec<Seg>, value: &DeValue<'_>) {
        match value {
            DeValue::Table(t) => self.walk_table(path, t),
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    path.push(Seg::Index(i));
                    let line = self.line_of_offset(item.span().start);
                    self.lines.entry(render_path(path)).or_insert(line);
                    self.walk_value(path, item.get_ref());
                    path.pop();
                }
            }
            _ => {}
        }
    }
}

//! Counting the series and points of a Prometheus answer while it is read,
//! so an answer over the bounds is refused after the first chunk that
//! crosses them, not after the whole body is in memory.
//!
//! A small incremental JSON scanner: it follows strings (with escapes),
//! objects and arrays, and the key each container was opened under. In the
//! API's shape `{"status", "data": {"resultType", "result": [ {"metric",
//! "value"|"values"|"histogram"|"histograms"} ]}}` a series is an object
//! opened directly in `data.result`, and a point is the `[ts, v]` pair of
//! `value` / `histogram` (one per series) or an element of `values` /
//! `histograms`. Anything else is only walked through; whether the answer
//! really is JSON of that shape is checked once it is complete.

/// The bounds on one answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    pub max_series: u64,
    pub max_points: u64,
    /// The body size past which reading stops whatever it holds.
    pub max_bytes: u64,
}

impl Bounds {
    pub fn new(max_series: u64, max_points: u64) -> Self {
        // A point is ~25-40 bytes of JSON (`[1733540000,"0.1234"]` plus a
        // separator); a series' labels (cAdvisor's `id`, `image`, `name`)
        // rarely pass 1 KiB. Generous: the counts are the real bound, the
        // bytes only stop an answer whose labels are absurd.
        let max_bytes = max_points
            .saturating_mul(64)
            .saturating_add(max_series.saturating_mul(4096))
            .saturating_add(1 << 20);
        Bounds {
            max_series,
            max_points,
            max_bytes,
        }
    }
}

/// Which bound an answer crossed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exceeded {
    Series(u64),
    Points(u64),
    Bytes(u64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Key {
    Data,
    Result,
    /// `values` or `histograms`: one point per element.
    Samples,
    /// `value` or `histogram`: one point.
    Sample,
    Other,
    /// An array element, or the root.
    None,
}

#[derive(Clone, Copy, Debug)]
struct Frame {
    object: bool,
    /// The key this container was opened under.
    key: Key,
    /// In an object: the next string is a key.
    expect_key: bool,
}

/// Feed it the body chunk by chunk.
#[derive(Debug)]
pub struct Counter {
    bounds: Bounds,
    stack: Vec<Frame>,
    in_string: bool,
    escape: bool,
    /// The string being read is a key; its first bytes.
    key_buf: Option<Vec<u8>>,
    /// The key of the value about to start in the current object.
    pending: Key,
    pub series: u64,
    pub points: u64,
    pub bytes: u64,
}

impl Counter {
    pub fn new(bounds: Bounds) -> Self {
        Counter {
            bounds,
            stack: Vec::new(),
            in_string: false,
            escape: false,
            key_buf: None,
            pending: Key::None,
            series: 0,
            points: 0,
            bytes: 0,
        }
    }

    /// Counts `chunk`; `Err` as soon as a bound is crossed.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), Exceeded> {
        self.bytes += chunk.len() as u64;
        if self.bytes > self.bounds.max_bytes {
            return Err(Exceeded::Bytes(self.bytes));
        }
        for &b in chunk {
            if self.in_string {
                if self.escape {
                    self.escape = false;
                } else if b == b'\\' {
                    self.escape = true;
                } else if b == b'"' {
                    self.in_string = false;
                    if let Some(buf) = self.key_buf.take() {
                        self.pending = match buf.as_slice() {
                            b"data" => Key::Data,
                            b"result" => Key::Result,
                            b"values" | b"histograms" => Key::Samples,
                            b"value" | b"histogram" => Key::Sample,
                            _ => Key::Other,
                        };
                    }
                } else if let Some(buf) = &mut self.key_buf
                    && buf.len() < 16
                {
                    buf.push(b);
                }
                continue;
            }
            match b {
                b'"' => {
                    self.in_string = true;
                    let key_position = self.stack.last().is_some_and(|f| f.object && f.expect_key);
                    self.key_buf = key_position.then(Vec::new);
                }
                b'{' | b'[' => {
                    let object = b == b'{';
                    self.count_open(object)?;
                    let key = self.take_key();
                    self.stack.push(Frame {
                        object,
                        key,
                        expect_key: object,
                    });
                }
                b'}' | b']' => {
                    self.stack.pop();
                }
                b':' => {
                    if let Some(f) = self.stack.last_mut() {
                        f.expect_key = false;
                    }
                }
                b',' => {
                    if let Some(f) = self.stack.last_mut() {
                        f.expect_key = f.object;
                    }
                    self.pending = Key::None;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The key a container opening now is under (none in an array).
    fn take_key(&mut self) -> Key {
        match self.stack.last() {
            Some(f) if f.object => std::mem::replace(&mut self.pending, Key::None),
            _ => Key::None,
        }
    }

    fn count_open(&mut self, object: bool) -> Result<(), Exceeded> {
        let keys: Vec<(bool, Key)> = self.stack.iter().map(|f| (f.object, f.key)).collect();
        let pending = self.stack.last().filter(|f| f.object).map(|_| self.pending);
        match (keys.as_slice(), object, pending) {
            // data.result[i]: a series.
            ([(true, Key::None), (true, Key::Data), (false, Key::Result)], true, _) => {
                self.series += 1;
                if self.series > self.bounds.max_series {
                    return Err(Exceeded::Series(self.series));
                }
            }
            // data.result[i].value: one point.
            (
                [
                    (true, Key::None),
                    (true, Key::Data),
                    (false, Key::Result),
                    (true, Key::None),
                ],
                false,
                Some(Key::Sample),
            ) => self.point()?,
            // data.result[i].values[j]: a point.
            (
                [
                    (true, Key::None),
                    (true, Key::Data),
                    (false, Key::Result),
                    (true, Key::None),
                    (false, Key::Samples),
                ],
                false,
                _,
            ) => self.point()?,
            _ => {}
        }
        Ok(())
    }

    fn point(&mut self) -> Result<(), Exceeded> {
        self.points += 1;
        if self.points > self.bounds.max_points {
            return Err(Exceeded::Points(self.points));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(text: &str, chunk: usize) -> (u64, u64) {
        let mut c = Counter::new(Bounds::new(1000, 1000));
        for part in text.as_bytes().chunks(chunk) {
            c.feed(part).unwrap();
        }
        (c.series, c.points)
    }

    const MATRIX: &str = r#"{"status":"success","data":{"resultType":"matrix","result":[
        {"metric":{"__name__":"x","pod":"a\"b[{","values":"no"},"values":[[1,"1"],[2,"2"],[3,"3"]]},
        {"metric":{"pod":"c"},"values":[[1,"1"],[2,"2"]]}]},"warnings":["[not {a point}"]}"#;

    #[test]
    fn series_and_points_are_counted_in_any_chunking() {
        for chunk in [1, 2, 3, 7, 64, 10_000] {
            assert_eq!(count(MATRIX, chunk), (2, 5), "chunk {chunk}");
        }
        let vector = r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"a":"1"},"value":[1,"1"]},{"metric":{},"value":[1,"2"]},
            {"metric":{"b":"x"},"histogram":[1,{"count":"2","buckets":[[0,"1","2","3"]]}]}]}}"#;
        for chunk in [1, 5, 10_000] {
            assert_eq!(count(vector, chunk), (3, 3), "chunk {chunk}");
        }
        let scalar = r#"{"status":"success","data":{"resultType":"scalar","result":[1,"1"]}}"#;
        assert_eq!(count(scalar, 3), (0, 0));
        // Keys elsewhere named like the API's do not count.
        let elsewhere = r#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"values":"[[1,2]]"},"other":{"values":[[1,"1"]]},"values":[[1,"1"]]}]}}"#;
        assert_eq!(count(elsewhere, 4), (1, 1));
    }

    #[test]
    fn a_bound_stops_the_count_when_crossed() {
        let mut c = Counter::new(Bounds::new(1, 1000));
        let err = c.feed(MATRIX.as_bytes()).unwrap_err();
        assert_eq!(err, Exceeded::Series(2));
        let mut c = Counter::new(Bounds::new(10, 4));
        assert_eq!(c.feed(MATRIX.as_bytes()).unwrap_err(), Exceeded::Points(5));
        let mut c = Counter::new(Bounds {
            max_series: 10,
            max_points: 10,
            max_bytes: 20,
        });
        assert!(matches!(
            c.feed(MATRIX.as_bytes()).unwrap_err(),
            Exceeded::Bytes(_)
        ));
    }
}

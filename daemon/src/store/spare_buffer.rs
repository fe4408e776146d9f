//! The second of two write buffers that take turns: the session journal and the audit log each
//! queue records in one buffer while the other is written out, so the allocator is not asked
//! for megabytes twice a second.

/// The largest buffer kept for the next turn; a burst's bigger one is given back.
const SPARE_MAX: usize = 8 << 20;

/// The buffer the last write emptied, if it is worth keeping.
#[derive(Debug, Default)]
pub(crate) struct SpareBuffer(Vec<u8>);

impl SpareBuffer {
    /// Takes what `queue` holds, leaving the spare (empty) buffer in its place.
    pub(crate) fn swap_with(&mut self, queue: &mut Vec<u8>) -> Vec<u8> {
        std::mem::replace(queue, std::mem::take(&mut self.0))
    }

    /// Keeps `written` (emptied) for the next turn, unless it grew too big to hold on to.
    pub(crate) fn keep(&mut self, mut written: Vec<u8>) {
        if written.capacity() <= SPARE_MAX {
            written.clear();
            self.0 = written;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two buffers take turns; an oversized one is dropped.
    #[test]
    fn buffers_take_turns() {
        let mut spare = SpareBuffer::default();
        let mut queue = Vec::with_capacity(64);
        queue.extend_from_slice(b"records");
        let written = spare.swap_with(&mut queue);
        assert_eq!((written.as_slice(), queue.len()), (&b"records"[..], 0));
        let capacity = written.capacity();
        spare.keep(written);
        assert_eq!(spare.swap_with(&mut queue).capacity(), 0);
        assert_eq!(queue.capacity(), capacity, "the emptied buffer came back");
        spare.keep(Vec::with_capacity(SPARE_MAX + 1));
        assert_eq!(spare.0.capacity(), 0);
    }
}

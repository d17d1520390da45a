/// What a timeline history file says: the timelines a timeline descends from, and the LSN at which
/// each one was left. `00000003.history` holds a line per ancestor:
///
/// ```
/// 1	0/3000158	no recovery target specified
/// 2	0/5000000	before 2026-12-02 10:41:00+00
/// ```
public struct TimelineHistory: Sendable, Hashable {
    /// One ancestor: WAL of `timeline` is on this timeline's path up to (not including) `switchPoint`.
    public struct Ancestor: Sendable, Hashable {
        public var timeline: UInt32
        public var switchPoint: LSN
    }

    public var timeline: UInt32
    /// Oldest first.
    public var ancestors: [Ancestor]

    public init(timeline: UInt32, ancestors: [Ancestor] = []) {
        self.timeline = timeline
        self.ancestors = ancestors
    }

    /// Parses the file's text; `#` comments and blank lines are skipped.
    public init(timeline: UInt32, text: String) throws {
        self.timeline = timeline
        ancestors = []
        for line in text.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty, !trimmed.hasPrefix("#") else { continue }
            let fields = trimmed.split(whereSeparator: { $0 == "\t" || $0 == " " })
            guard fields.count >= 2, let parent = UInt32(fields[0]), let lsn = LSN(String(fields[1])) else {
                throw BackupError(.verificationFailed, "the history file of timeline \(timeline) has a line that is not 'timeline<TAB>lsn<TAB>reason': '\(trimmed)'")
            }
            ancestors.append(Ancestor(timeline: parent, switchPoint: lsn))
        }
    }

    /// The timeline that wrote `lsn` on this timeline's path.
    public func timeline(at lsn: LSN) -> UInt32 {
        for ancestor in ancestors where lsn < ancestor.switchPoint { return ancestor.timeline }
        return timeline
    }

    /// The timeline whose copy of segment `number` recovery reads on this path: the newest one that
    /// began before the segment ends (a new timeline copies the segment it branched in).
    public func timeline(forSegment number: UInt64, segmentSize: Int64) -> UInt32 {
        let segmentEnd = (number + 1) * UInt64(segmentSize)
        for ancestor in ancestors where ancestor.switchPoint.value >= segmentEnd { return ancestor.timeline }
        return timeline
    }
}

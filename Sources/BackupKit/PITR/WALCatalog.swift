import Foundation

/// The WAL of one plan's source that the plan's WAL sinks hold, merged: each file once, with the sinks
/// that hold it (in plan order).
public struct WALCatalog: Sendable {
    public struct Copy: Sendable, Hashable {
        public var sink: String
        public var object: ArchivedWAL
    }

    /// By WAL file name.
    public private(set) var files: [String: [Copy]] = [:]
    public let segmentSize: Int64

    public init(segmentSize: Int64) {
        self.segmentSize = segmentSize
    }

    /// Adds what one sink lists.
    public mutating func add(_ objects: [StoredObject], sink: String, plan: String, source: String) {
        for object in objects {
            guard let archived = ArchivedWAL(object, plan: plan, source: source) else { continue }
            files[archived.name.name, default: []].append(Copy(sink: sink, object: archived))
        }
    }

    /// Lists every sink (in order) and merges what they hold; a sink that cannot be listed is reported
    /// in `unreachable` and left out.
    public static func load(sinks: [any Sink], plan: String, source: String, segmentSize: Int64) async -> (WALCatalog, unreachable: [String: String]) {
        var catalog = WALCatalog(segmentSize: segmentSize)
        var unreachable: [String: String] = [:]
        for sink in sinks {
            do {
                catalog.add(try await sink.list(), sink: sink.name, plan: plan, source: source)
            } catch {
                unreachable[sink.name] = BackupError.wrap(error, as: .sinkFailed, "sink '\(sink.name)'").message
            }
        }
        return (catalog, unreachable)
    }

    public func copies(of name: String) -> [Copy] { files[name] ?? [] }
    public func has(_ name: String) -> Bool { files[name] != nil }

    /// Every archived name, sorted.
    public var names: [WALFileName] { files.values.compactMap { $0.first?.object.name }.sorted() }

    public var histories: [ArchivedWAL] { files.values.compactMap { $0.first?.object }.filter { $0.name.kind == .history }.sorted { $0.name < $1.name } }

    /// The segment names recovery reads from segment number `first` to `last` on `history`'s path that
    /// no sink holds.
    public func missingSegments(from first: UInt64, through last: UInt64, on history: TimelineHistory) -> [String] {
        guard first <= last else { return [] }
        var missing: [String] = []
        for number in first...last {
            let name = WALFileName.segment(timeline: history.timeline(forSegment: number, segmentSize: segmentSize), number: number, segmentSize: segmentSize)
            if !has(name.name) { missing.append(name.name) }
        }
        return missing
    }

    /// The newest segment on `history`'s path: its number and time.
    public func lastSegment(on history: TimelineHistory) -> ArchivedWAL? {
        files.values.compactMap { $0.first?.object }
            .filter { $0.name.kind == .segment }
            .filter { object in
                guard let number = object.name.segmentNumber(segmentSize: segmentSize) else { return false }
                return history.timeline(forSegment: number, segmentSize: segmentSize) == object.name.timeline
            }
            .max { $0.name.segmentNumber(segmentSize: segmentSize)! < $1.name.segmentNumber(segmentSize: segmentSize)! }
    }
}

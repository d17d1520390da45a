import Foundation
import Synchronization

/// The places in a plan document that hold values decoded as ``Secret``, for masking.
final class SecretLocations: Sendable {
    /// One step of a path through the document: a mapping key or a sequence index.
    enum Step: Hashable, Sendable {
        case key(String)
        case index(Int)
    }

    private let paths = Mutex<Set<[Step]>>([])

    func record(_ codingPath: [any CodingKey]) {
        let steps = codingPath.map { key in key.intValue.map(Step.index) ?? .key(key.stringValue) }
        paths.withLock { _ = $0.insert(steps) }
    }

    func contains(_ steps: [Step]) -> Bool { paths.withLock { $0.contains(steps) } }
}

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
        // A sequence's coding keys have only an index; a mapping key that looks like a number ("123")
        // has both, and is a key.
        let steps = codingPath.map { key in
            key.intValue.flatMap { String($0) == key.stringValue ? nil : Step.index($0) } ?? .key(key.stringValue)
        }
        paths.withLock { _ = $0.insert(steps) }
    }

    func contains(_ steps: [Step]) -> Bool { paths.withLock { $0.contains(steps) } }
}

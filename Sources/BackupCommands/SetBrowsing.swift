import BackupKit
import Foundation
import Logging

/// What `ls`, `find` and `diff` share: finding a set the way `restore` does, and reading what it holds
/// of each directory-like source.
struct SetBrowsing {
    var plan: BackupPlan
    var only: [String]
    var logger: Logger

    var staging: String { plan.resolvedStagingDirectory + "/" + plan.name + "-browse" }

    /// The set `text` names (a timestamp, `latest`, or a moment as `restore --set` takes it), in `sink`
    /// or the first sink that holds it.
    func locate(_ text: String?, sink: String?) async throws -> (sink: any Sink, set: SetCatalog.Entry) {
        var options = Restorer.Options(sink: sink, onlySources: only, destination: .directory(""))
        if let text { options.selector = try SetSelector(parsing: text, timeZone: plan.resolvedSchedule.timeZone) }
        return try await Restorer(plan: plan, logger: logger).locateSet(options)
    }

    /// The set's artifacts that hold trees of files (incremental indexes and tar archives), of the
    /// sources `--only` names (all when none).
    func treeArtifacts(of set: SetCatalog.Entry, in sink: any Sink) throws -> [ManifestArtifact] {
        guard let manifest = set.manifest else {
            throw BackupError(.restoreFailed, "set \(set.timestamp) in sink '\(sink.name)' cannot be read here: \(set.problem ?? set.sealedProblem?.message ?? "no manifest")")
        }
        return manifest.artifacts.filter { artifact in
            !artifact.isPack && (artifact.isIncrementalIndex || artifact.layout == .tree) && (only.isEmpty || only.contains(artifact.source))
        }
    }

    /// A reader of `artifact` of `set`, its file fetched and checked first.
    func reader(_ artifact: ManifestArtifact, of set: SetCatalog.Entry, in sink: any Sink) async throws -> ContentReader {
        let path = try await plan.checkedLocalFile(artifact, in: sink, sealed: set.sealed, staging: staging)
        return try ContentReader.open(artifact, path: path, formats: plan.formats)
    }

    func removeStaging() {
        try? FileManager.default.removeItem(atPath: staging)
    }
}

extension ContentEntry {
    /// One line of `ls`: kind, mode, size, mtime (UTC) and the source's name before the path.
    var line: String {
        let letter = switch kind {
        case .file: "-"
        case .directory: "d"
        case .symlink: "l"
        case .hardlink: "h"
        }
        let time = Date(timeIntervalSince1970: Double(modified.seconds)).formatted(.iso8601)
        var text = "\(letter) \(String(mode, radix: 8).leftPadded(to: 4)) \(String(size).leftPadded(to: 12))  \(time)  \(source)/\(path)"
        if let linkTarget { text += " -> \(linkTarget)" }
        return text
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}

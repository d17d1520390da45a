// A Swift service that embeds BackupKit: it builds a plan in code, runs it (say, before a deploy),
// and prints progress from the event stream.
//
//   swift run embed-backupkit /srv/minio/data ./backups
import BackupKit
import BackupSinks
import BackupSources
import Foundation
import Logging

let arguments = CommandLine.arguments
guard arguments.count == 3 else {
    FileHandle.standardError.write(Data("usage: embed-backupkit SOURCE_DIRECTORY BACKUP_DIRECTORY\n".utf8))
    exit(2)
}

let plan = BackupPlan(
    name: "predeploy",
    sources: [DirectorySource(name: "data", configuration: .init(path: arguments[1], subject: "app-data"))],
    sinks: [LocalSink(directory: arguments[2])],
    retention: RetentionPolicy(keepLast: 3, keepTagged: 5)
)

let runner = BackupRunner(plan: plan, logger: Logger(label: "embed-backupkit"))
var outcome: RunReport?
for await event in runner.start(.init(tag: "pre-deploy")) {
    switch event {
    case .started(_, let set):
        print("backup set \(set) started")
    case .progress(_, let artifact, let read, let written, _):
        print("  \(artifact): \(megabytes(read)) read, \(megabytes(written)) written")
    case .verified(let artifact, let passed, let message):
        print("  \(artifact): \(passed ? "verified" : "FAILED verification: \(message ?? "")")")
    case .stored(let artifact, let sink):
        print("  \(artifact) stored in \(sink)")
    case .finished(let report):
        outcome = report
    default:
        break
    }
}

guard let report = outcome, report.status != .failed else {
    print("backup failed: \(outcome?.error?.message ?? "unknown"); not deploying")
    exit(1)
}
print("backup \(report.status.rawValue): \(report.artifacts.count) artifact(s), \(megabytes(report.artifacts.reduce(0) { $0 + $1.size })); deploying")

/// A byte count in megabytes, for the log lines above.
func megabytes(_ bytes: Int64) -> String {
    String(format: "%.1f MB", Double(bytes) / 1_000_000)
}

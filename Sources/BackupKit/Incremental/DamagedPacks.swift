import Foundation

/// The packs `verify` found damaged (their bytes are not what the manifests record, or a blob is not
/// what its name says), kept in the plan's state directory. The next incremental run takes no content
/// from them: it reads those files again and stores them in new packs, so later sets are whole again
/// while the sets that name a damaged pack keep failing `verify` until retention deletes them.
public enum DamagedPacks {
    public static func path(for plan: BackupPlan) -> String {
        plan.resolvedStateDirectory + "/.backupctl-\(plan.name).damaged-packs.json"
    }

    /// The recorded names; none when nothing was recorded or the file cannot be read.
    public static func load(for plan: BackupPlan) -> Set<String> {
        guard let data = FileManager.default.contents(atPath: path(for: plan)),
              let names = try? JSONDecoder().decode([String].self, from: data) else { return [] }
        return Set(names)
    }

    /// Adds `names` to the record (fsynced, renamed into place).
    public static func record(_ names: Set<String>, for plan: BackupPlan) throws {
        guard !names.isEmpty else { return }
        let all = load(for: plan).union(names).sorted()
        let data = try JSONEncoder().encode(all)
        _ = try AtomicFileWriter.write(Array(data), to: path(for: plan))
    }
}

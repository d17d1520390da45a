import Foundation

/// The version of BackupKit, recorded in manifests and printed by `backupctl --version`.
public enum BackupKitVersion {
    public static let current = "0.1.0"
}

import BackupCommands
import BackupKit

await Backupctl.main(registry: .standard)

# ---------------------------------------------------------------------------------------------------------
# Data disk (settings.dataDisk)
# ---------------------------------------------------------------------------------------------------------
function Get-DataDisk {
    # The disk at settings.dataDisk.lun: Azure shows a data disk's LUN in its physical location ("... : LUN 0",
    # Microsoft's "Manage disks in standalone Storage Spaces on Windows Server hosted in Azure"). The boot and
    # system disk never qualify.
    $wanted = 'LUN {0}$' -f $script:DataDisk.Lun
    $found = @()
    foreach ($physical in @(Get-PhysicalDisk | Where-Object { "$($_.PhysicalLocation)" -match $wanted })) {
        $disk = Get-Disk -Number ([int]$physical.DeviceId) -ErrorAction SilentlyContinue
        if ($null -ne $disk -and -not $disk.IsBoot -and -not $disk.IsSystem) { $found += $disk }
    }
    if ($found.Count -ne 1) {
        throw ("settings.dataDisk.lun {0}: {1} data disk(s) at that LUN; is the managed data disk attached (docs/azure.md)?" -f $script:DataDisk.Lun, $found.Count)
    }
    return $found[0]
}

function Get-DataVolume {
    # The data disk's volume at its drive letter, $null when it is not there yet.
    $volume = Get-Volume -DriveLetter $script:DataDisk.DriveLetter -ErrorAction SilentlyContinue
    if ($null -eq $volume) { return $null }
    $disk = Get-DataDisk
    $onDisk = @(Get-Partition -DiskNumber $disk.Number | Where-Object { "$($_.DriveLetter)" -eq $script:DataDisk.DriveLetter })
    if ($onDisk.Count -ne 1) { throw ("drive {0}: is not on the data disk at LUN {1}; free the letter or choose another (settings.dataDisk.driveLetter)" -f $script:DataDisk.DriveLetter, $script:DataDisk.Lun) }
    return $volume
}

Add-Step -Name 'Prepare data disk' -Lab '' -Test {
    if ($null -eq $script:DataDisk) { return $true }
    $volume = Get-DataVolume
    if ($null -eq $volume) { return $false }
    return ("$($volume.FileSystemLabel)" -eq $script:DataDisk.Label -and "$($volume.DriveLetter)" -eq $script:DataDisk.DriveLetter -and
            "$($volume.FileSystem)" -eq 'NTFS')
} -Action {
    $disk = Get-DataDisk
    if ("$($disk.PartitionStyle)" -eq 'RAW') {
        # Only a disk with no partition table is ever initialised and formatted: a re-attached data disk keeps
        # its data (docs/bootstrap.md, "Data disk").
        Write-Log ("data disk at LUN {0} is raw: initialising (GPT) and formatting it NTFS '{1}' as {2}:" -f $script:DataDisk.Lun, $script:DataDisk.Label, $script:DataDisk.DriveLetter)
        if ($disk.IsOffline) { Set-Disk -Number $disk.Number -IsOffline $false }
        if ($disk.IsReadOnly) { Set-Disk -Number $disk.Number -IsReadOnly $false }
        Initialize-Disk -Number $disk.Number -PartitionStyle GPT
        $partition = New-Partition -DiskNumber $disk.Number -UseMaximumSize -DriveLetter $script:DataDisk.DriveLetter
        $null = Format-Volume -Partition $partition -FileSystem NTFS -NewFileSystemLabel $script:DataDisk.Label -Confirm:$false
        return
    }
    # An existing disk: bring it online and give its volume the letter; never format it.
    if ($disk.IsOffline) { Set-Disk -Number $disk.Number -IsOffline $false }
    if ($disk.IsReadOnly) { Set-Disk -Number $disk.Number -IsReadOnly $false }
    $volumes = @(Get-Partition -DiskNumber $disk.Number | Get-Volume | Where-Object { "$($_.FileSystemLabel)" -eq $script:DataDisk.Label })
    if ($volumes.Count -ne 1) {
        throw ("the data disk at LUN {0} is not raw and has {1} volume(s) labelled '{2}'; refusing to format a disk holding data. " +
               "Check the disk (docs/bootstrap.md, 'Data disk')") -f $script:DataDisk.Lun, $volumes.Count, $script:DataDisk.Label
    }
    $partition = Get-Partition -DiskNumber $disk.Number | Where-Object { (Get-Volume -Partition $_ -ErrorAction SilentlyContinue).FileSystemLabel -eq $script:DataDisk.Label } | Select-Object -First 1
    if ("$($partition.DriveLetter)" -ne $script:DataDisk.DriveLetter) {
        Write-Log ("data disk at LUN {0}: existing volume '{1}' gets drive letter {2}:" -f $script:DataDisk.Lun, $script:DataDisk.Label, $script:DataDisk.DriveLetter)
        Set-Partition -DiskNumber $disk.Number -PartitionNumber $partition.PartitionNumber -NewDriveLetter $script:DataDisk.DriveLetter
    }
}

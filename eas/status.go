package eas

// statusInfo is one row of a documented status table: what the code means
// and, where the document gives one, what the client should do.
type statusInfo struct {
	meaning string
	hint    string
}

// commonStatus holds the status values common to all commands, from
// [MS-ASCMD] 2.2.2 "Common Status Codes" (values above 100, protocol 14.0
// and later).
var commonStatus = map[int]statusInfo{
	101: {"the body of the request is empty or not WBXML", "check the request encoding"},
	102: {"the request contains WBXML that could not be decoded", "check the request encoding"},
	103: {"the XML in the request is invalid", "check the request against the command's schema"},
	104: {"a date/time value in the request is invalid", ""},
	105: {"the request contains a combination of parameters that is not valid", ""},
	106: {"the request contains one or more IDs that are not valid", ""},
	107: {"the MIME content of the message is not valid", "send a complete RFC 5322 message"},
	108: {"the device ID is missing or not valid", "use a DeviceId of letters and digits, at most 32 characters"},
	109: {"the device type is missing or not valid", "use a DeviceType of letters and digits"},
	110: {"the server encountered an unknown error", "retry later"},
	111: {"the server encountered an error; retry later", "retry later"},
	112: {"the server does not have access to read or write to Active Directory", "ask the Exchange administrator"},
	113: {"the mailbox has reached its size quota", "free space in the mailbox"},
	114: {"the mailbox server is offline", "retry later"},
	115: {"the send quota has been exceeded", ""},
	116: {"one of the recipients could not be resolved to an email address", "check the recipient addresses"},
	117: {"the mailbox server does not allow a reply to this message", ""},
	118: {"the message was already sent in a previous request", "do not resend it"},
	119: {"the message has no recipient", "add To, Cc or Bcc to the message"},
	120: {"the server failed to submit the message for delivery", "retry later"},
	121: {"the server failed to create a reply message", ""},
	122: {"the attachment is too large to be processed", ""},
	123: {"the user has no mailbox on the server", "check that the account is licensed for Exchange"},
	124: {"the request was sent without credentials; anonymous access is not allowed", ""},
	125: {"the user was not found in the directory", "check the mailbox address"},
	126: {"the user is not allowed to synchronize with Exchange ActiveSync", "an administrator must enable ActiveSync for the mailbox (Set-CASMailbox -ActiveSyncEnabled $true)"},
	127: {"the server is configured to prevent users from syncing", ""},
	128: {"the user is on a legacy server that cannot sync", ""},
	129: {"the device is blocked for this user", "an administrator must allow the device (ActiveSync device access rules or quarantine)"},
	130: {"the user is not allowed to perform the request", "check the mailbox permissions"},
	131: {"the user's account is disabled", ""},
	132: {"the server's data file that holds the sync state is missing or corrupt", "start again with sync key 0"},
	133: {"the server's sync state is locked", "retry later"},
	134: {"the server's sync state is corrupt", "start again with sync key 0"},
	135: {"the server's sync state already exists", ""},
	136: {"the version of the server's sync state is not valid", "start again with sync key 0"},
	137: {"the command is not supported by the server", ""},
	138: {"the command is not supported in the protocol version sent", "use a protocol version listed by OPTIONS"},
	139: {"the device cannot fully comply with all requirements of the security policy", "server administrator intervention is required"},
	140: {"a remote wipe was requested", "provision again; this client does not wipe"},
	141: {"the device is not provisionable: it sent no policy key", "provision the device"},
	142: {"the device is not provisioned", "provision the device"},
	143: {"the security policy was refreshed on the server", "provision the device again"},
	144: {"the device's policy key is not valid", "provision the device again"},
	145: {"externally managed devices are not allowed", "server administrator intervention is required"},
	146: {"the request tried to forward an occurrence of a meeting that has no recurrence", ""},
	147: {"the request tried to operate on an item of the wrong type", ""},
	148: {"the remote server has no SSL enabled", ""},
	149: {"the stored request is not valid", "send the full request"},
	150: {"the item was not found", "synchronize the folder and use a current ServerId"},
	151: {"too many folders", ""},
	152: {"no folders were found", ""},
	153: {"items were lost after a move", ""},
	154: {"the move failed", ""},
	155: {"a move is not allowed for a non-persistent move action", ""},
	156: {"the destination folder of the move is not valid", ""},
	160: {"too many recipients in the availability request", ""},
	161: {"the distribution-list limit was reached", ""},
	162: {"a transient availability failure", "retry later"},
	163: {"an availability failure", ""},
	164: {"the body part preference type is not supported", "ask for body type 1, 2 or 4"},
	165: {"device information is required in the initial Provision request", "send settings:DeviceInformation"},
	166: {"the account ID is not valid", ""},
	167: {"the account cannot send mail", ""},
	168: {"Information Rights Management is disabled", ""},
	169: {"a transient Information Rights Management error", "retry later"},
	170: {"a permanent Information Rights Management error", ""},
	171: {"the rights-management template ID is not valid", ""},
	172: {"the rights-management operation is not permitted", ""},
	173: {"the contact has no picture", ""},
	174: {"the picture is too large", ""},
	175: {"the number of pictures exceeds the limit", ""},
	176: {"the conversation is too large to compute the body parts", ""},
	177: {"the user has reached the maximum number of devices", "remove old devices from the mailbox (Remove-MobileDevice)"},
}

// Per-command status tables. Each holds the command-specific values of the
// command's Status element as documented in [MS-ASCMD] 2.2.3.177; values
// above 100 fall back to commonStatus.
var (
	// [MS-ASCMD] 2.2.3.177.5 Status (FolderSync)
	folderSyncStatus = map[int]statusInfo{
		6:  {"an error occurred on the server", "retry; if it keeps failing, start again with sync key 0"},
		9:  {"synchronization key mismatch or invalid synchronization key", "start again with sync key 0"},
		10: {"incorrectly formatted request", ""},
		11: {"an unknown error occurred", ""},
		12: {"an unusual back-end issue occurred", ""},
	}
	// [MS-ASCMD] 2.2.3.177.17 Status (Sync)
	syncStatus = map[int]statusInfo{
		3:  {"invalid or mismatched synchronization key", "start the collection again with sync key 0"},
		4:  {"protocol error: the request does not conform to the protocol", ""},
		5:  {"server error", "retry later"},
		6:  {"error in client/server conversion of an item", ""},
		7:  {"conflict between the client and server object", "the server's version wins; synchronize again"},
		8:  {"object not found", "synchronize again"},
		9:  {"the Sync command cannot be completed; the user's account may be out of disk space", ""},
		12: {"the folder hierarchy has changed", "run FolderSync, then Sync again"},
		13: {"the Sync request is not complete (empty or partial request without a cached one)", "send the full request"},
		14: {"invalid Wait or HeartbeatInterval value", ""},
		15: {"invalid Sync request: too many collections", ""},
		16: {"retry", "resend the request"},
	}
	// [MS-ASCMD] 2.2.3.177.11 Status (Ping)
	pingStatus = map[int]statusInfo{
		3: {"the Ping request omitted required parameters", "send the heartbeat interval and folders"},
		4: {"syntax error in the Ping request", ""},
		5: {"the heartbeat interval is outside the allowed range", "use the interval the server sent back"},
		6: {"the Ping request asked for more folders than the server allows", "watch fewer folders"},
		7: {"the folder hierarchy is out of date", "run FolderSync"},
		8: {"an error occurred on the server", "retry later"},
	}
	// [MS-ASCMD] 2.2.3.177.8 Status (ItemOperations)
	itemOperationsStatus = map[int]statusInfo{
		2:   {"protocol error: protocol violation or XML validation error", ""},
		3:   {"server error", "retry later"},
		4:   {"document library access: the URI is bad", ""},
		5:   {"document library access: access denied", ""},
		6:   {"the object was not found or access was denied", "synchronize the folder and use a current ServerId"},
		7:   {"document library access: failed to connect to the server", ""},
		8:   {"the byte range is not valid or too large", ""},
		9:   {"the store is unknown or not supported", ""},
		10:  {"the file is empty", ""},
		11:  {"the requested data size is too large", ""},
		12:  {"failed to download the file because of an I/O failure", "retry later"},
		14:  {"the item failed conversion", ""},
		15:  {"the attachment or attachment ID is not valid", ""},
		16:  {"access to the resource is denied", ""},
		17:  {"partial success: the command completed partially", ""},
		18:  {"credentials are required", ""},
		155: {"protocol error: required elements are missing", ""},
		156: {"the action is not supported", ""},
	}
	// [MS-ASPROV] 3.1.5.2 Provision Command Errors (Provision element)
	provisionStatus = map[int]statusInfo{
		2: {"protocol error: syntax error in the Provision request", ""},
		3: {"an error occurred on the server", "retry later"},
	}
	// [MS-ASPROV] 2.2.2.54.1 Status (Policy), response values
	policyStatus = map[int]statusInfo{
		2: {"there is no policy for this client", ""},
		3: {"unknown PolicyType value", ""},
		4: {"the policy data on the server is corrupted (possibly tampered with)", ""},
		5: {"the client is acknowledging the wrong policy key", "provision again"},
	}
)

func lookupStatus(table map[int]statusInfo, code int) statusInfo {
	if s, ok := table[code]; ok {
		return s
	}
	if s, ok := commonStatus[code]; ok {
		return s
	}
	return statusInfo{meaning: "status not documented for this command"}
}

// needsProvision reports whether a command status asks the client to run
// Provision again: 140 (remote wipe requested), 142 (not provisioned), 143
// (policy refresh) and 144 (invalid policy key), [MS-ASCMD] 2.2.2.
func needsProvision(code int) bool {
	return code == 140 || code == 142 || code == 143 || code == 144
}

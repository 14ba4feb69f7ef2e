// A JSON-RPC 2.0 server speaking the Solana RPC shapes over one in-memory
// LiteSVM. LiteSVM executes the real System, SPL Token, Token-2022 and
// Associated Token Account programs; this file only translates between the
// RPC wire format and LiteSVM, and keeps what a node keeps beside the bank:
// slots, the window of valid blockhashes and the transaction history.
//
// Written next to node_modules by chains/solana/devnet and run with node.
// It listens on the port and host given as its arguments (default: any free
// port on 127.0.0.1), prints the port on the first line of stdout and exits
// when stdin closes, so it never outlives its parent.
'use strict';

const http = require('http');
const { LiteSVM } = require('litesvm');
const kit = require('@solana/kit');
const token = require('@solana-program/token');

let deployment = null; // set by mandate_register
const MAX_AGE = 150; // slots a blockhash stays valid, as on a real cluster
const LAMPORTS_PER_SIGNATURE = 5000n;
const SLOTS_PER_EPOCH = 432000;
// JSON numbers from JS lose u64::MAX; this marker is replaced by its exact digits on output.
const U64_MAX = '\u0000u64max';
const SYSTEM = '11111111111111111111111111111111';
const COMPUTE_BUDGET = 'ComputeBudget111111111111111111111111111111';
const TOKEN = 'TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA';
const TOKEN_2022 = 'TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb';

// LiteSVM's error enums are const enums (no runtime object): their names, in order.
const TX_ERRORS = ['AccountInUse', 'AccountLoadedTwice', 'AccountNotFound', 'ProgramAccountNotFound',
  'InsufficientFundsForFee', 'InvalidAccountForFee', 'AlreadyProcessed', 'BlockhashNotFound',
  'CallChainTooDeep', 'MissingSignatureForFee', 'InvalidAccountIndex', 'SignatureFailure',
  'InvalidProgramForExecution', 'SanitizeFailure', 'ClusterMaintenance', 'AccountBorrowOutstanding',
  'WouldExceedMaxBlockCostLimit', 'UnsupportedVersion', 'InvalidWritableAccount',
  'WouldExceedMaxAccountCostLimit', 'WouldExceedAccountDataBlockLimit', 'TooManyAccountLocks',
  'AddressLookupTableNotFound', 'InvalidAddressLookupTableOwner', 'InvalidAddressLookupTableData',
  'InvalidAddressLookupTableIndex', 'InvalidRentPayingAccount', 'WouldExceedMaxVoteCostLimit',
  'WouldExceedAccountDataTotalLimit', 'MaxLoadedAccountsDataSizeExceeded', 'ResanitizationNeeded',
  'InvalidLoadedAccountsDataSizeLimit', 'UnbalancedTransaction', 'ProgramCacheHitMaxLimit', 'CommitCancelled'];
const IX_ERRORS = ['GenericError', 'InvalidArgument', 'InvalidInstructionData', 'InvalidAccountData',
  'AccountDataTooSmall', 'InsufficientFunds', 'IncorrectProgramId', 'MissingRequiredSignature',
  'AccountAlreadyInitialized', 'UninitializedAccount', 'UnbalancedInstruction', 'ModifiedProgramId',
  'ExternalAccountLamportSpend', 'ExternalAccountDataModified', 'ReadonlyLamportChange',
  'ReadonlyDataModified', 'DuplicateAccountIndex', 'ExecutableModified', 'RentEpochModified',
  'NotEnoughAccountKeys', 'AccountDataSizeChanged', 'AccountNotExecutable', 'AccountBorrowFailed',
  'AccountBorrowOutstanding', 'DuplicateAccountOutOfSync', 'InvalidError', 'ExecutableDataModified',
  'ExecutableLamportChange', 'ExecutableAccountNotRentExempt', 'UnsupportedProgramId', 'CallDepth',
  'MissingAccount', 'ReentrancyNotAllowed', 'MaxSeedLengthExceeded', 'InvalidSeeds', 'InvalidRealloc',
  'ComputationalBudgetExceeded', 'PrivilegeEscalation', 'ProgramEnvironmentSetupFailure',
  'ProgramFailedToComplete', 'ProgramFailedToCompile', 'Immutable', 'IncorrectAuthority',
  'AccountNotRentExempt', 'InvalidAccountOwner', 'ArithmeticOverflow', 'UnsupportedSysvar', 'IllegalOwner',
  'MaxAccountsDataAllocationsExceeded', 'MaxAccountsExceeded', 'MaxInstructionTraceLengthExceeded',
  'BuiltinProgramsMustConsumeComputeUnits', 'BorshIoError'];

const b58 = { enc: kit.getBase58Decoder(), dec: kit.getBase58Encoder() }; // kit names codecs by direction to bytes
const b64 = { enc: kit.getBase64Decoder(), dec: kit.getBase64Encoder() };
const txDecoder = kit.getTransactionDecoder();
const msgDecoder = kit.getCompiledTransactionMessageDecoder();

const svm = new LiteSVM().withNativeMints(); // wSOL, as on a cluster: a swap that wraps SOL reads it
svm.withBlockhashCheck(false); // the window of MAX_AGE blockhashes is checked here, like a node does

let slot = 1;
svm.warpToSlot(BigInt(slot));
const genesisHash = svm.latestBlockhash();
const blockhashes = new Map([[genesisHash, slot]]); // blockhash -> slot it was made at
const history = new Map(); // signature -> {slot, wire, message, meta}
const landedPrices = []; // {slot, price, writable[]} of landed transactions, for getRecentPrioritizationFees
let transactionCount = 0;

class RpcError extends Error {
  constructor(code, message, data) { super(message); this.code = code; this.data = data; }
}
const invalidParams = (msg) => new RpcError(-32602, msg);

// advance makes a new slot with a new blockhash, as a leader producing a block would.
function advance() {
  slot += 1;
  svm.warpToSlot(BigInt(slot));
  svm.expireBlockhash();
  blockhashes.set(svm.latestBlockhash(), slot);
  for (const [h, s] of blockhashes) if (s < slot - 2 * MAX_AGE) blockhashes.delete(h);
}
const blockhashValid = (h) => blockhashes.has(h) && slot <= blockhashes.get(h) + MAX_AGE;

// lifetimeValid is the node's age check: a recent blockhash, or for a durable-nonce
// transaction (first instruction System AdvanceNonceAccount) the nonce its account holds.
function lifetimeValid(message) {
  const first = message.instructions[0];
  const d = first && first.data;
  if (first && String(message.staticAccounts[first.programAddressIndex]) === SYSTEM && d && d.length === 4 &&
      d[0] === 4 && d[1] === 0 && d[2] === 0 && d[3] === 0 && first.accountIndices && first.accountIndices.length) {
    const nonce = account(message.staticAccounts[first.accountIndices[0]]);
    if (nonce && String(nonce.programAddress) === SYSTEM && nonce.data.length >= 72) {
      return b58.enc.decode(nonce.data.slice(40, 72)) === message.lifetimeToken;
    }
  }
  return blockhashValid(message.lifetimeToken);
}
const context = () => ({ slot, apiVersion: '2.2.0' });
const withContext = (value) => ({ context: context(), value });

function pubkey(s, what) {
  try { return kit.address(String(s)); } catch { throw invalidParams(`Invalid param: ${what || 'pubkey'} is not a base58 public key`); }
}

function account(addr) {
  const a = svm.getAccount(addr);
  return a.exists ? a : null;
}

// ---- token accounts ----

function tokenKind(acct) {
  const owner = String(acct.programAddress);
  if (owner !== TOKEN && owner !== TOKEN_2022) return null;
  const d = acct.data;
  if (d.length === 165 || (owner === TOKEN_2022 && d.length > 165 && d[165] === 2)) return 'account';
  if (d.length === 82 || (owner === TOKEN_2022 && d.length > 165 && d[165] === 1)) return 'mint';
  return null;
}
const decodeToken = (acct) => token.getTokenDecoder().decode(acct.data.slice(0, 165));
const decodeMint = (acct) => token.getMintDecoder().decode(acct.data.slice(0, 82));
const optionAddr = (o) => (o && o.__option === 'Some' ? String(o.value) : null);

function uiAmount(amount, decimals) {
  const s = amount.toString().padStart(decimals + 1, '0');
  let str = decimals ? `${s.slice(0, -decimals)}.${s.slice(-decimals)}`.replace(/\.?0+$/, '') : s;
  return { amount: amount.toString(), decimals, uiAmount: Number(str), uiAmountString: str };
}

function mintDecimals(mintAddr) {
  const m = account(kit.address(mintAddr));
  if (!m || tokenKind(m) !== 'mint') return null;
  return decodeMint(m).decimals;
}

function parsedTokenData(acct) {
  const kind = tokenKind(acct);
  if (!kind) return null;
  const program = String(acct.programAddress) === TOKEN ? 'spl-token' : 'spl-token-2022';
  let info;
  if (kind === 'mint') {
    const m = decodeMint(acct);
    info = { decimals: m.decimals, freezeAuthority: optionAddr(m.freezeAuthority), isInitialized: m.isInitialized,
      mintAuthority: optionAddr(m.mintAuthority), supply: m.supply.toString() };
  } else {
    const t = decodeToken(acct);
    const decimals = mintDecimals(String(t.mint)) ?? 0;
    info = { isNative: t.isNative.__option === 'Some', mint: String(t.mint), owner: String(t.owner),
      state: ['uninitialized', 'initialized', 'frozen'][t.state], tokenAmount: uiAmount(t.amount, decimals) };
    if (t.delegate.__option === 'Some') {
      info.delegate = String(t.delegate.value);
      info.delegatedAmount = uiAmount(t.delegatedAmount, decimals);
    }
    if (t.closeAuthority.__option === 'Some') info.closeAuthority = String(t.closeAuthority.value);
    if (t.isNative.__option === 'Some') info.rentExemptReserve = uiAmount(t.isNative.value, 9);
  }
  return { program, parsed: { info, type: kind }, space: acct.data.length };
}

function encodeAccount(acct, encoding) {
  if (!acct) return null;
  let data;
  if (encoding === 'jsonParsed') data = parsedTokenData(acct);
  if (!data) {
    if (encoding === 'base58') data = [b58.enc.decode(acct.data), 'base58'];
    else if (encoding === 'base64+zstd') throw invalidParams('Invalid param: base64+zstd is not supported here');
    else data = [b64.enc.decode(acct.data), 'base64'];
  }
  return { data, executable: acct.executable, lamports: Number(acct.lamports), owner: String(acct.programAddress),
    rentEpoch: U64_MAX, space: acct.data.length };
}

function tokenAccountsOf(programs, pred) {
  const out = [];
  for (const p of programs) {
    for (const a of svm.getProgramAccounts(kit.address(p))) {
      if (tokenKind(a) === 'account' && pred(decodeToken(a))) out.push(a);
    }
  }
  return out;
}

// ---- transactions ----

function decodeWire(encoded, encoding) {
  if (typeof encoded !== 'string') throw invalidParams('Invalid params: transaction must be a string');
  try {
    const wire = encoding === 'base64' ? b64.dec.encode(encoded) : b58.dec.encode(encoded);
    const tx = txDecoder.decode(wire);
    const message = msgDecoder.decode(tx.messageBytes);
    const sigs = Object.values(tx.signatures);
    const signature = sigs[0] ? b58.enc.decode(sigs[0]) : '1111111111111111111111111111111111111111111111111111111111111111';
    return { wire, tx, message, signature };
  } catch (e) {
    throw invalidParams(`invalid transaction: failed to deserialize VersionedTransaction: ${e.message}`);
  }
}

function isWritable(message, i) {
  const h = message.header;
  const n = message.staticAccounts.length;
  if (i < h.numSignerAccounts) return i < h.numSignerAccounts - h.numReadonlySignerAccounts;
  return i < n - h.numReadonlyNonSignerAccounts;
}

// computeBudget reads the compute unit price and limit the message asks for.
function computeBudget(message) {
  let price = 0n; let limit = null; let other = 0;
  for (const ix of message.instructions) {
    const prog = String(message.staticAccounts[ix.programAddressIndex]);
    const d = ix.data || new Uint8Array();
    if (prog !== COMPUTE_BUDGET) { other += 1; continue; }
    const view = new DataView(d.buffer, d.byteOffset, d.byteLength);
    if (d[0] === 2 && d.length >= 5) limit = BigInt(view.getUint32(1, true));
    if (d[0] === 3 && d.length >= 9) price = view.getBigUint64(1, true);
  }
  if (limit === null) limit = BigInt(Math.min(1400000, 200000 * other));
  return { price, limit };
}

// fee is what the runtime charges the fee payer: per signature plus the priority fee.
function fee(message) {
  const { price, limit } = computeBudget(message);
  const priority = (price * limit + 999999n) / 1000000n;
  return LAMPORTS_PER_SIGNATURE * BigInt(message.header.numSignerAccounts) + priority;
}

function txErrorJSON(e) {
  if (e === undefined || e === null) return null;
  if (typeof e === 'number') return TX_ERRORS[e] || `TransactionError${e}`;
  const name = e.constructor && e.constructor.name;
  if (name === 'TransactionErrorInstructionError') {
    const ie = e.err();
    let inner;
    if (typeof ie === 'number') inner = IX_ERRORS[ie] || `InstructionError${ie}`;
    else if (ie && typeof ie.code === 'number') inner = { Custom: ie.code };
    else inner = { BorshIoError: ie && ie.msg };
    return { InstructionError: [e.index, inner] };
  }
  if (name === 'TransactionErrorDuplicateInstruction') return { DuplicateInstruction: e.index };
  if (name === 'TransactionErrorInsufficientFundsForRent') return { InsufficientFundsForRent: { account_index: e.accountIndex } };
  if (name === 'TransactionErrorProgramExecutionTemporarilyRestricted') return { ProgramExecutionTemporarilyRestricted: { account_index: e.accountIndex } };
  return String(e);
}

// errorText follows the Display texts of the node's TransactionError for the common cases.
function errorText(err) {
  const texts = {
    BlockhashNotFound: 'Blockhash not found',
    AccountNotFound: 'Attempt to debit an account but found no record of a prior credit.',
    InsufficientFundsForFee: 'Insufficient funds for fee',
    AlreadyProcessed: 'This transaction has already been processed',
    SignatureFailure: 'Transaction did not pass signature verification',
  };
  if (typeof err === 'string') return texts[err] || err;
  if (err && err.InsufficientFundsForRent) {
    return `Transaction results in an account (${err.InsufficientFundsForRent.account_index}) with insufficient funds for rent`;
  }
  if (err && err.InstructionError) {
    const [i, ie] = err.InstructionError;
    let t;
    if (ie && ie.Custom !== undefined) t = `custom program error: 0x${ie.Custom.toString(16)}`;
    else if (ie === 'InsufficientFunds') t = 'insufficient funds for instruction';
    else t = JSON.stringify(ie);
    return `Error processing Instruction ${i}: ${t}`;
  }
  return JSON.stringify(err);
}

// landed reports whether a failed transaction was still committed (fee charged), as
// execution errors are; load-time errors (fee, blockhash, signatures) never land.
const landed = (err) => err === null || typeof err !== 'string';

function lamportsOf(addr) { const b = svm.getBalance(addr); return b === null ? 0 : Number(b); }

function tokenBalances(message) {
  const out = [];
  message.staticAccounts.forEach((addr, i) => {
    const a = account(addr);
    if (!a || tokenKind(a) !== 'account') return;
    const t = decodeToken(a);
    out.push({ accountIndex: i, mint: String(t.mint), owner: String(t.owner), programId: String(a.programAddress),
      uiTokenAmount: uiAmount(t.amount, mintDecimals(String(t.mint)) ?? 0) });
  });
  return out;
}

function simulationValue(result, extra) {
  const failed = result.constructor.name === 'FailedTransactionMetadata';
  const meta = result.meta();
  const rd = meta.returnData();
  const rdata = rd && rd.data().length ? { programId: b58.enc.decode(rd.programId()), data: [b64.enc.decode(rd.data()), 'base64'] } : null;
  return Object.assign({
    err: failed ? txErrorJSON(result.err()) : null,
    logs: meta.logs(),
    accounts: null,
    unitsConsumed: Number(meta.computeUnitsConsumed()),
    returnData: rdata,
    innerInstructions: null,
    replacementBlockhash: null,
  }, extra);
}

function emptySimulation(err) {
  return { err, logs: [], accounts: null, unitsConsumed: 0, returnData: null, innerInstructions: null, replacementBlockhash: null };
}

// simulate runs the transaction on LiteSVM without committing it.
function simulate(d, { sigVerify = false, replaceRecentBlockhash = false, accounts } = {}) {
  if (!replaceRecentBlockhash && !lifetimeValid(d.message)) return emptySimulation('BlockhashNotFound');
  if (history.has(d.signature) && sigVerify) return emptySimulation('AlreadyProcessed');
  svm.withSigverify(sigVerify);
  let result;
  try {
    result = svm.simulateTransaction(d.tx);
  } catch (e) {
    return emptySimulation('SignatureFailure');
  } finally {
    svm.withSigverify(true);
  }
  const extra = {};
  if (replaceRecentBlockhash) extra.replacementBlockhash = { blockhash: svm.latestBlockhash(), lastValidBlockHeight: slot + MAX_AGE };
  if (accounts && Array.isArray(accounts.addresses) && result.constructor.name !== 'FailedTransactionMetadata') {
    const post = new Map(result.postAccounts().map((a) => [String(a.address), a]));
    extra.accounts = accounts.addresses.map((a) => {
      const addr = pubkey(a, 'account address');
      return encodeAccount(post.get(String(addr)) || account(addr), accounts.encoding || 'base64');
    });
  }
  return simulationValue(result, extra);
}

function send(d) {
  const keys = d.message.staticAccounts;
  const pre = keys.map(lamportsOf);
  const preToken = tokenBalances(d.message);
  let result;
  try {
    result = svm.sendTransaction(d.tx);
  } catch (e) {
    throw new RpcError(-32003, 'Transaction signature verification failure');
  }
  const failed = result.constructor.name === 'FailedTransactionMetadata';
  const err = failed ? txErrorJSON(result.err()) : null;
  if (!landed(err)) return err;
  const meta = failed ? result.meta() : result;
  const post = keys.map(lamportsOf);
  const entry = {
    slot, wire: d.wire, message: d.message, version: d.message.version,
    meta: {
      err, status: err === null ? { Ok: null } : { Err: err },
      fee: err === null ? Number(fee(d.message)) : pre[0] - post[0],
      preBalances: pre, postBalances: post,
      innerInstructions: [], logMessages: meta.logs(),
      preTokenBalances: preToken, postTokenBalances: tokenBalances(d.message),
      rewards: [], loadedAddresses: { writable: [], readonly: [] },
      computeUnitsConsumed: Number(meta.computeUnitsConsumed()),
    },
  };
  history.set(d.signature, entry);
  landedPrices.push({ slot, price: computeBudget(d.message).price, writable: keys.filter((_, i) => isWritable(d.message, i)).map(String) });
  while (landedPrices.length > MAX_AGE) landedPrices.shift();
  transactionCount += 1;
  advance();
  return err;
}

function sendTransaction([encoded, cfg = {}]) {
  const d = decodeWire(encoded, (cfg && cfg.encoding) || 'base58');
  if (history.has(d.signature)) {
    if (cfg.skipPreflight) return d.signature;
    throw simulationFailure(emptySimulation('AlreadyProcessed'));
  }
  if (!cfg.skipPreflight) {
    const sim = simulate(d, { sigVerify: true });
    if (sim.err !== null) {
      if (sim.err === 'SignatureFailure') throw new RpcError(-32003, 'Transaction signature verification failure');
      throw simulationFailure(sim);
    }
  }
  // Like a node, a transaction whose blockhash expired is dropped, not executed.
  if (!lifetimeValid(d.message)) return d.signature;
  send(d);
  return d.signature;
}

function simulationFailure(sim) {
  return new RpcError(-32002, `Transaction simulation failed: ${errorText(sim.err)}`, sim);
}

function txJSON(entry, encoding) {
  if (encoding === 'base64') return [b64.enc.decode(entry.wire), 'base64'];
  if (encoding === 'base58') return [b58.enc.decode(entry.wire), 'base58'];
  const m = entry.message;
  const tx = txDecoder.decode(entry.wire);
  const message = {
    accountKeys: m.staticAccounts.map(String),
    header: { numRequiredSignatures: m.header.numSignerAccounts, numReadonlySignedAccounts: m.header.numReadonlySignerAccounts,
      numReadonlyUnsignedAccounts: m.header.numReadonlyNonSignerAccounts },
    recentBlockhash: m.lifetimeToken,
    instructions: m.instructions.map((ix) => ({ programIdIndex: ix.programAddressIndex, accounts: ix.accountIndices || [],
      data: b58.enc.decode(ix.data || new Uint8Array()), stackHeight: null })),
  };
  if (m.version !== 'legacy') message.addressTableLookups = (m.addressTableLookups || []).map((l) => ({
    accountKey: String(l.lookupTableAddress), writableIndexes: l.writableIndexes, readonlyIndexes: l.readonlyIndexes }));
  return { message, signatures: Object.values(tx.signatures).map((s) => (s ? b58.enc.decode(s) : '1111111111111111111111111111111111111111111111111111111111111111')) };
}

// ---- methods ----

const methods = {
  getHealth: () => 'ok',
  // solana-core is the RPC API level served; litesvm says what actually runs.
  getVersion: () => ({ 'solana-core': '2.2.0', 'feature-set': 0, litesvm: '1.5.0' }),
  getGenesisHash: () => genesisHash,
  getSlot: () => slot,
  getBlockHeight: () => slot,
  getTransactionCount: () => transactionCount,
  getEpochInfo: () => ({ absoluteSlot: slot, blockHeight: slot, epoch: Math.floor(slot / SLOTS_PER_EPOCH),
    slotIndex: slot % SLOTS_PER_EPOCH, slotsInEpoch: SLOTS_PER_EPOCH, transactionCount }),
  getLatestBlockhash: () => withContext({ blockhash: svm.latestBlockhash(), lastValidBlockHeight: slot + MAX_AGE }),
  isBlockhashValid: ([h]) => withContext(blockhashValid(String(h))),
  getBalance: ([a]) => withContext(lamportsOf(pubkey(a))),
  getAccountInfo: ([a, cfg = {}]) => withContext(encodeAccount(account(pubkey(a)), (cfg && cfg.encoding) || 'base58')),
  getMultipleAccounts: ([list, cfg = {}]) => {
    if (!Array.isArray(list)) throw invalidParams('Invalid params: expected an array of public keys');
    return withContext(list.map((a) => encodeAccount(account(pubkey(a)), (cfg && cfg.encoding) || 'base64')));
  },
  getMinimumBalanceForRentExemption: ([n]) => {
    if (!Number.isInteger(n) || n < 0) throw invalidParams('Invalid params: data length must be a non-negative integer');
    return Number(svm.minimumBalanceForRentExemption(BigInt(n)));
  },
  getFeeForMessage: ([encoded]) => {
    let message;
    try { message = msgDecoder.decode(b64.dec.encode(String(encoded))); } catch (e) { throw invalidParams(`invalid message: ${e.message}`); }
    return withContext(lifetimeValid(message) ? Number(fee(message)) : null);
  },
  getRecentPrioritizationFees: ([addrs = []] = []) => {
    const want = new Set((addrs || []).map((a) => String(pubkey(a))));
    return landedPrices.map((p) => ({ slot: p.slot,
      prioritizationFee: want.size === 0 || p.writable.some((w) => want.has(w)) ? Number(p.price) : 0 }));
  },
  simulateTransaction: ([encoded, cfg = {}]) => {
    cfg = cfg || {};
    if (cfg.sigVerify && cfg.replaceRecentBlockhash) throw invalidParams('sigVerify may not be used with replaceRecentBlockhash');
    return withContext(simulate(decodeWire(encoded, cfg.encoding || 'base58'), cfg));
  },
  sendTransaction: (params) => sendTransaction(params),
  getSignatureStatuses: ([sigs]) => {
    if (!Array.isArray(sigs)) throw invalidParams('Invalid params: expected an array of signatures');
    return withContext(sigs.map((s) => {
      const e = history.get(String(s));
      return e ? { slot: e.slot, confirmations: null, err: e.meta.err, status: e.meta.status, confirmationStatus: 'finalized' } : null;
    }));
  },
  getTransaction: ([sig, cfg = {}]) => {
    cfg = typeof cfg === 'string' ? { encoding: cfg } : cfg || {};
    const e = history.get(String(sig));
    if (!e || !e.wire) return null;
    if (e.version !== 'legacy' && cfg.maxSupportedTransactionVersion === undefined) {
      throw new RpcError(-32015, 'Transaction version (0) is not supported by the requesting client. Please try the request again with the following configuration parameter: "maxSupportedTransactionVersion": 0');
    }
    const out = { slot: e.slot, blockTime: Math.floor(Date.now() / 1000), transaction: txJSON(e, cfg.encoding || 'json'), meta: e.meta };
    if (cfg.maxSupportedTransactionVersion !== undefined) out.version = e.version;
    return out;
  },
  getTokenAccountsByOwner: ([owner, filter, cfg = {}]) => {
    const o = String(pubkey(owner, 'owner'));
    if (!filter || (!filter.mint && !filter.programId)) throw invalidParams('Invalid params: filter must be {mint} or {programId}');
    let programs = [TOKEN, TOKEN_2022];
    let mint = null;
    if (filter.programId) {
      programs = [String(pubkey(filter.programId, 'programId'))];
      if (!programs.every((p) => p === TOKEN || p === TOKEN_2022)) throw invalidParams(`Invalid param: unrecognized Token program id`);
    } else {
      mint = String(pubkey(filter.mint, 'mint'));
    }
    const found = tokenAccountsOf(programs, (t) => String(t.owner) === o && (mint === null || String(t.mint) === mint));
    return withContext(found.map((a) => ({ pubkey: String(a.address), account: encodeAccount(a, (cfg && cfg.encoding) || 'base64') })));
  },
  getTokenAccountBalance: ([a]) => {
    const acct = account(pubkey(a));
    if (!acct || tokenKind(acct) !== 'account') throw invalidParams('Invalid param: not a Token account');
    const t = decodeToken(acct);
    return withContext(uiAmount(t.amount, mintDecimals(String(t.mint)) ?? 0));
  },
  getTokenSupply: ([a]) => {
    const acct = account(pubkey(a));
    if (!acct || tokenKind(acct) !== 'mint') throw invalidParams('Invalid param: not a Token mint');
    const m = decodeMint(acct);
    return withContext(uiAmount(m.supply, m.decimals));
  },
  requestAirdrop: ([a, lamports]) => {
    const to = pubkey(a);
    if (!Number.isSafeInteger(lamports) || lamports <= 0) throw invalidParams('Invalid params: lamports must be a positive integer');
    const r = svm.airdrop(to, BigInt(lamports));
    if (!r || r.constructor.name === 'FailedTransactionMetadata') throw new RpcError(-32603, `airdrop failed: ${r ? errorText(txErrorJSON(r.err())) : 'no result'}`);
    const signature = b58.enc.decode(r.signature());
    history.set(signature, { slot, wire: null, meta: { err: null, status: { Ok: null } } });
    transactionCount += 1;
    advance();
    return signature;
  },
  // mandate_advance [n]: produce n slots (default 1), each with a new blockhash, so a
  // test can expire a blockhash (n > 150) without waiting. Returns the new slot.
  // mandate_deployment: what the devnet's maker registered with
  // mandate_register (its mints by symbol), so a mandate command pointed at
  // this RPC learns them with no other configuration; null before.
  mandate_deployment: () => deployment,
  // mandate_register [deployment]: set once, by the process that funded the devnet.
  mandate_register: ([d] = []) => {
    if (deployment !== null) throw new RpcError(-32600, 'the deployment is already registered');
    if (!d || typeof d !== 'object' || Array.isArray(d)) throw invalidParams('Invalid params: the deployment must be an object');
    deployment = d;
    return true;
  },
  mandate_advance: ([n = 1] = []) => {
    if (!Number.isInteger(n) || n < 1 || n > 100000) throw invalidParams('Invalid params: n must be an integer from 1 to 100000');
    for (let i = 0; i < n; i++) advance();
    return slot;
  },
};

function handle(req) {
  if (!req || typeof req !== 'object' || Array.isArray(req) || req.jsonrpc !== '2.0' || typeof req.method !== 'string') {
    return { jsonrpc: '2.0', error: { code: -32600, message: 'Invalid request' }, id: req && req.id !== undefined ? req.id : null };
  }
  const id = req.id === undefined ? null : req.id;
  const fn = Object.prototype.hasOwnProperty.call(methods, req.method) ? methods[req.method] : null;
  if (!fn) return { jsonrpc: '2.0', error: { code: -32601, message: 'Method not found' }, id };
  try {
    const params = req.params === undefined ? [] : req.params;
    if (!Array.isArray(params)) throw invalidParams('Invalid params: params must be an array');
    return { jsonrpc: '2.0', result: fn(params), id };
  } catch (e) {
    if (e instanceof RpcError) {
      const error = { code: e.code, message: e.message };
      if (e.data !== undefined) error.data = e.data;
      return { jsonrpc: '2.0', error, id };
    }
    return { jsonrpc: '2.0', error: { code: -32603, message: `Internal error: ${e.message}` }, id };
  }
}

const server = http.createServer((req, res) => {
  if (req.method !== 'POST') {
    res.writeHead(405, { 'content-type': 'text/plain' }).end('Used HTTP Method is not allowed. POST is required');
    return;
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      body = undefined;
    }
    let out;
    if (body === undefined) out = { jsonrpc: '2.0', error: { code: -32700, message: 'Parse error' }, id: null };
    else if (Array.isArray(body)) out = body.length ? body.map(handle) : { jsonrpc: '2.0', error: { code: -32600, message: 'Invalid request' }, id: null };
    else out = handle(body);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(out).split('"\\u0000u64max"').join('18446744073709551615'));
  });
});

server.on('error', (e) => {
  process.stderr.write(`listen: ${e.message}\n`);
  process.exit(1);
});
server.listen(Number(process.argv[2] || 0), process.argv[3] || '127.0.0.1', () => {
  process.stdout.write(`${server.address().port}\n`);
});
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();

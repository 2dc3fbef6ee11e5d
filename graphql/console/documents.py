"""The GraphQL operations behind the console's pages: the console reads and writes only through
these, run in-process as the signed-in user (`enishi.graphql.app.execute_as`), so a page passes the
same authorization and services as the API and leaves the same access-log entries. bench/console.py
times each page against its operation sent to /graphql."""

REQUEST_FIELDS = """id type status regime channel receivedAt dueAt dueDate daysLeft overdue extended extensionReason
    decisionReason completedAt contact { id displayName }"""

REQUEST_QUEUE = f"""query ConsoleQueue($filter: DataSubjectRequestFilter, $after: String) {{
  dataSubjectRequests(filter: $filter, first: 50, after: $after) {{
    totalCount pageInfo {{ hasNextPage endCursor }}
    edges {{ node {{ {REQUEST_FIELDS} }} }}
  }}
}}"""

REQUEST_PAGE = f"""query ConsoleRequest($id: ID!) {{
  node(id: $id) {{ ... on DataSubjectRequest {{
    {REQUEST_FIELDS} details
    history {{ status note at actor {{ displayName }} }}
    runs {{ plugin action status attempts affected retained error finishedAt }}
    exports {{ format size createdAt linkExpiresAt downloadedAt }}
  }} }}
}}"""

_REQUEST_PAYLOAD = "request { id status } userErrors { field message code }"
REQUEST_ACTIONS = {
    "approve": f"mutation($id: ID!) {{ result: approveDataSubjectRequest(id: $id) {{ {_REQUEST_PAYLOAD} }} }}",
    "execute": f"mutation($id: ID!) {{ result: executeDataSubjectRequest(id: $id) {{ {_REQUEST_PAYLOAD} }} }}",
    "retry": f"mutation($id: ID!) {{ result: retryDataSubjectRequest(id: $id) {{ {_REQUEST_PAYLOAD} }} }}",
    "extend": f"""mutation($id: ID!, $months: Int!, $reason: String!) {{
        result: extendDataSubjectRequest(id: $id, months: $months, reason: $reason) {{ {_REQUEST_PAYLOAD} }} }}""",
}
EXPORT_LINK = """mutation($id: ID!, $format: String!) {
  result: dataSubjectExportLink(requestId: $id, format: $format) { url userErrors { field message code } } }"""

SUBJECT_SEARCH = """query ConsoleSubjects($search: String!) {
  contacts(filter: {search: $search}, first: 20) { edges { node { id displayName primaryEmail } } }
}"""

SUBJECT_HOLDS = """query ConsoleHolds($contact: ID!) {
  contact: node(id: $contact) { ... on Contact { id displayName
    timeline(first: 50) { edges { node { id type summary occurredAt } } } } }
  legalHolds(contactId: $contact, active: false) { id basis reference until createdAt releasedAt nodeType recordId }
}"""
PLACE_HOLD = """mutation($input: PlaceLegalHoldInput!) {
  result: placeLegalHold(input: $input) { hold { id } userErrors { field message code } } }"""
RELEASE_HOLD = """mutation($id: ID!) { result: releaseLegalHold(id: $id) { hold { id } userErrors { field message code } } }"""

SUBJECT_CONSENT = """query ConsoleConsent($contact: ID!) {
  contact: node(id: $contact) { ... on Contact { id displayName consents { purpose state source capturedAt } } }
  consentHistory(contactId: $contact) { purpose state noticeId noticeVersion source method capturedAt }
}"""
WITHDRAW_CONSENT = """mutation($input: RecordConsentInput!) {
  result: recordConsent(input: $input) { consent { purpose state } userErrors { field message code } } }"""

ACCESS_LOG_ENTRY = "seq at user { id displayName } contactId roles action purpose"
ACCESS_LOG = f"""query ConsoleAccessLog($contact: ID!) {{
  contact: node(id: $contact) {{ ... on Contact {{ id displayName }} }}
  accessLog(contactId: $contact) {{ {ACCESS_LOG_ENTRY} }}
  verifyAccessLog {{ valid entries firstBrokenSeq }}
}}"""
STAFF = "query ConsoleStaff { users { id displayName } }"
STAFF_ACCESS_LOG = f"""query ConsoleStaffAccessLog($user: ID!, $last: Int!) {{
  accessLog(userId: $user, last: $last) {{ {ACCESS_LOG_ENTRY} }}
  verifyAccessLog {{ valid entries firstBrokenSeq }}
}}"""
SUBJECT_NAMES = "query ConsoleSubjectNames($ids: [ID!]!) { nodes(ids: $ids) { ... on Contact { id displayName } } }"
VERIFY_ACCESS_LOG = "query ConsoleVerify { verifyAccessLog { valid entries firstBrokenSeq } }"

OVERVIEW = """query ConsoleOverview {
  complianceDeadlines(first: 50) { totalCount nodes { kind reference dueAt overdue } }
  incidents(first: 20) { nodes { id title status malicious awareAt affectedCount gdprAuthorityDueAt appiPreliminaryDueAt
    appiFinalDueAt appiFinalDueDate appiReportRequired appiExempt appiTriggers reports { kind filedAt } } }
  retentionRules { id entity action periodMonths basis active }
  retentionRuns(first: 1) { nodes { startedAt finishedAt rules { entity action applied held openRequest failed } } }
  provisionRecipients(first: 100) { nodes { id name kind country transferRoute purpose dpaDate reviewDate abroad } }
}"""
# What the overview edits in place: a retention rule's period, basis and state, a recipient's review date.
UPDATE_RETENTION_RULE = """mutation($input: UpdateRetentionRuleInput!) {
  result: updateRetentionRule(input: $input) { rule { id } userErrors { field message code } } }"""
UPDATE_RECIPIENT = """mutation($input: UpdateRecipientInput!) {
  result: updateRecipient(input: $input) { recipient { id } userErrors { field message code } } }"""

/** Every table the processor writes, fully qualified in database `db`. */
export function processorTables(db: string) {
  return {
    transactions: `${db}.transactions`,
    heartbeats: `${db}.terminal_heartbeats`,
    kpi1m: `${db}.kpi_1m`,
    lateEvents: `${db}.late_events`,
    terminalStatus: `${db}.terminal_status`,
    terminalStatusLatest: `${db}.terminal_status_latest`,
    flags: `${db}.flags`,
    alerts: `${db}.alerts`,
    analystCredentials: `${db}.analyst_credentials`,
    kpiDefinitions: `${db}.kpi_definitions`,
  } as const;
}

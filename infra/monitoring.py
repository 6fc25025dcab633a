"""``Monitoring``: Azure Monitor metric alerts for the production tier, and where they go.

Metric names are the REST API names Microsoft lists:
- Application Gateway (Microsoft.Network/applicationGateways, "Azure Application Gateway monitoring data
  reference"): ``ResponseStatus`` with dimension ``HttpStatusGroup`` (5xx responses), ``UnhealthyHostCount``
  (backend instances failing the health probe).
- Flexible Server (Microsoft.DBforMySQL/flexibleServers, MicrosoftDocs/azure-databases-docs articles/mysql/
  flexible-server/concepts-monitoring.md): ``cpu_percent`` ("Host CPU percent"), ``storage_percent`` ("The
  percentage of storage used out of the server's maximum storage available").

Certificate expiry has no metric to alert on: docs/azure.md ("Monitoring") says how it is covered.
Boot diagnostics are on in the scale set's model (managed storage), as on the lab VM.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import monitor

COMPONENT_TYPE = "ostops:infra:Monitoring"
GATEWAY_NAMESPACE = "Microsoft.Network/applicationGateways"
MYSQL_NAMESPACE = "Microsoft.DBforMySQL/flexibleServers"


@dataclass(frozen=True)
class AlertRule:
    """One static-threshold metric alert, as pure data."""

    name: str
    target: str  # "gateway" or "database"
    namespace: str
    metric: str
    operator: str
    threshold: float
    aggregation: str
    window: str
    frequency: str
    severity: int
    description: str
    dimension: tuple[str, tuple[str, ...]] | None = None


ALERT_RULES: tuple[AlertRule, ...] = (
    AlertRule(
        "gateway-5xx", "gateway", GATEWAY_NAMESPACE, "ResponseStatus", "GreaterThan", 10, "Total", "PT5M", "PT1M",
        2, "More than 10 responses with a 5xx status through the gateway in 5 minutes",
        ("HttpStatusGroup", ("5xx",)),
    ),
    AlertRule(
        "unhealthy-instances", "gateway", GATEWAY_NAMESPACE, "UnhealthyHostCount", "GreaterThan", 0, "Average",
        "PT5M", "PT1M", 1, "A web instance fails the gateway's osTicket probe",
    ),
    AlertRule(
        "database-cpu", "database", MYSQL_NAMESPACE, "cpu_percent", "GreaterThan", 80, "Average", "PT15M",
        "PT5M", 2, "The Flexible Server's CPU above 80 % for 15 minutes",
    ),
    AlertRule(
        "database-storage", "database", MYSQL_NAMESPACE, "storage_percent", "GreaterThan", 85, "Maximum",
        "PT1H", "PT15M", 1, "The Flexible Server's storage more than 85 % used",
    ),
)


class MonitoringArgs:
    def __init__(
        self,
        *,
        resource_group_name: pulumi.Input[str],
        gateway_id: pulumi.Input[str],
        database_id: pulumi.Input[str],
        alert_email: str | None,
        tags: Mapping[str, str],
    ) -> None:
        self.resource_group_name = resource_group_name
        self.gateway_id = gateway_id
        self.database_id = database_id
        self.alert_email = alert_email
        self.tags = dict(tags)


class Monitoring(pulumi.ComponentResource):
    action_group: monitor.ActionGroup | None
    alerts: dict[str, monitor.MetricAlert]

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(COMPONENT_TYPE, name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        # Without ostops:alertEmail the alerts still fire and show in Azure Monitor; with it they also mail.
        self.action_group = (
            monitor.ActionGroup(
                f"{name}-email",
                resource_group_name=args.resource_group_name,
                location="Global",
                group_short_name="ostops",
                enabled=True,
                email_receivers=[
                    monitor.MicrosoftCommonEmailReceiverArgs(
                        name="operator", email_address=args.alert_email, use_common_alert_schema=True
                    )
                ],
                tags=args.tags,
                opts=child,
            )
            if args.alert_email
            else None
        )
        actions = (
            [monitor.MetricAlertActionArgs(action_group_id=self.action_group.id)] if self.action_group else None
        )
        targets = {"gateway": args.gateway_id, "database": args.database_id}
        self.alerts = {
            rule.name: monitor.MetricAlert(
                f"{name}-{rule.name}",
                resource_group_name=args.resource_group_name,
                location="global",
                description=rule.description,
                severity=rule.severity,
                enabled=True,
                scopes=[targets[rule.target]],
                evaluation_frequency=rule.frequency,
                window_size=rule.window,
                auto_mitigate=True,
                criteria=monitor.MetricAlertSingleResourceMultipleMetricCriteriaArgs(
                    odata_type="Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria",
                    all_of=[
                        monitor.MetricCriteriaArgs(
                            criterion_type="StaticThresholdCriterion",
                            name=rule.name,
                            metric_namespace=rule.namespace,
                            metric_name=rule.metric,
                            operator=rule.operator,
                            threshold=rule.threshold,
                            time_aggregation=rule.aggregation,
                            dimensions=(
                                [
                                    monitor.MetricDimensionArgs(
                                        name=rule.dimension[0], operator="Include", values=list(rule.dimension[1])
                                    )
                                ]
                                if rule.dimension
                                else None
                            ),
                        )
                    ],
                ),
                actions=actions,
                tags=args.tags,
                opts=child,
            )
            for rule in ALERT_RULES
        }
        self.register_outputs({"alerts": sorted(self.alerts)})

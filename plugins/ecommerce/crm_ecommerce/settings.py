"""The plugin's settings (``CRM_ECOMMERCE_*`` in the environment or ``crm.toml``).

The RFM bands are four ascending thresholds each, which split customers into scores 1..5
(:mod:`crm_ecommerce.rfm`); a business with other order sizes sets its own.
"""

from __future__ import annotations

from crm_core.plugin_api import Setting

SETTINGS = {
    "ECOMMERCE_STUCK_HOURS": Setting(int, 48, "hours without a tracking checkpoint before a parcel alerts"),
    "ECOMMERCE_WEBHOOK_RATELIMIT": Setting(
        str, "1200/minute", "webhook and tracking calls one shop's address takes (per shop, not per IP)"
    ),
    "ECOMMERCE_INBOX_RETENTION_DAYS": Setting(
        int, 30, "days a processed webhook delivery stays in the inbox (pending ones are kept)"
    ),
    "ECOMMERCE_MESSAGE_CHANNEL": Setting(
        str, "", "message channel (crm messaging) for recall texts and parcel apologies; empty: logged only"
    ),
    "ECOMMERCE_HOLD_MINUTES": Setting(
        int, 15, "minutes a flash-sale reservation holds stock unless the sale sets its own"
    ),
    "ECOMMERCE_RFM_RECENCY_DAYS": Setting(
        str, "30,90,180,365", "days since the last paid order bounding recency scores 5,4,3,2 (else 1)"
    ),
    "ECOMMERCE_RFM_FREQUENCY": Setting(
        str, "2,3,5,10", "paid orders in the window from which frequency scores 2,3,4,5 (else 1)"
    ),
    "ECOMMERCE_RFM_MONETARY": Setting(
        str, "500,1000,3000,10000", "net spend in the window from which monetary scores 2,3,4,5 (else 1)"
    ),
    "ECOMMERCE_RFM_WINDOW_DAYS": Setting(
        int, 365, "days of orders frequency and monetary count (0: all orders)"
    ),
}

"""A simulated acquirer: WeChat Pay 付款码支付 (v2 XML API) and Alipay 当面付 (OpenAPI gateway) over HTTP.

``wire`` is the sans-IO codec both sides use (signing, XML, the gateway's JSON); ``books`` is the
acquirer's ledger of orders and refunds driven by scenarios (``scenarios``); ``server`` is the HTTP
front; ``cli`` starts it as ``handheld-mocks acquirer``.  docs/acquirer.md describes it and cites the
public documents it follows.
"""

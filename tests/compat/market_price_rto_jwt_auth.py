#!/usr/bin/env python
"""A client written the way the vendor's 2024 RTO example "market price with JWT
authentication" is: an OAuth v2 ``client_credentials`` grant whose client authentication is
a JWT client assertion, signed with jwcrypto by the private key of a JWK file (``--jwkFile``;
header ``alg``/``typ``/``kid`` from the key, claims ``iss = sub = client id``, ``aud`` from
``--aud``, ``iat`` now, ``exp`` an hour later). The rest is the client credentials example:
an explicit ``--hostname`` (and ``--standbyhostname``) or service discovery filtered by
``--region``, one WebSocket session (or two with ``--hotstandby``) with websocket-client, the
item ``/TRI.N`` on ``ELEKTRON_DD``, Pongs for the server's Pings, no token reissue on a live
connection and a new token (a new assertion) only when reconnecting close to expiry. Every
line is stamped with the local time. No ertcloud code. The compatibility tests run it
unchanged against ``ertcloud sim``; the CA to trust comes from the environment
(REQUESTS_CA_BUNDLE and WEBSOCKET_CLIENT_CA_BUNDLE).
"""

import getopt
import json
import socket
import sys
import threading
import time
from datetime import datetime

import requests
import websocket
from jwcrypto import jwk, jwt

# Global Default Variables
app_id = "256"
auth_url = "https://api.refinitiv.com/auth/oauth2/v2/token"
discovery_url = "https://api.refinitiv.com/streaming/pricing/v1/"
hostname = ""
port = "443"
standbyhostname = ""
standbyport = "443"
position = ""
sts_token = ""
clientid = ""
jwk_file = ""
audience = "https://login.ciam.refinitiv.com/as/token.oauth2"
scope = "trapi.streaming.pricing.read"
region = "us-east-1"
ric = "/TRI.N"
service = "ELEKTRON_DD"
hostList = []
backupHostList = []
hotstandby = False

# Global Variables
session1 = None
session2 = None
expire_time = 0
token_ts = 0

BRAND = "LSEG Delivery Platform"


class WebSocketSession:
    logged_in = False
    session_name = ""
    web_socket_app = None
    web_socket_open = False
    host = ""
    force_disconnected = False
    reconnecting = False
    wst = None

    def __init__(self, name, host):
        self.session_name = name
        self.host = host

    def _send_market_price_request(self, ric_name):
        """Create and send simple Market Price request"""
        mp_req_json = {
            "ID": 2,
            "Key": {
                "Name": ric_name,
                "Service": service,
            },
        }
        if service.isdigit():
            mp_req_json["Key"]["Service"] = int(service)
        self.web_socket_app.send(json.dumps(mp_req_json))
        print(str(datetime.now()) + " SENT on " + self.session_name + ":")
        print(json.dumps(mp_req_json, sort_keys=True, indent=2, separators=(",", ":")))

    def _send_login_request(self, auth_token):
        """Send login request with the authentication token"""
        login_json = {
            "ID": 1,
            "Domain": "Login",
            "Key": {
                "NameType": "AuthnToken",
                "Elements": {
                    "ApplicationId": "",
                    "Position": "",
                    "AuthenticationToken": "",
                },
            },
        }

        login_json["Key"]["Elements"]["ApplicationId"] = app_id
        login_json["Key"]["Elements"]["Position"] = position
        login_json["Key"]["Elements"]["AuthenticationToken"] = auth_token

        self.web_socket_app.send(json.dumps(login_json))
        print(str(datetime.now()) + " SENT on " + self.session_name + ":")
        print(json.dumps(login_json, sort_keys=True, indent=2, separators=(",", ":")))

    def _process_login_response(self, message_json):
        """Send item request, or close the connection if the login was refused"""
        if message_json["Type"] == "Status":
            state = message_json["State"]
            if state["Stream"] != "Open" or state["Data"] != "Ok":
                print(str(datetime.now()) + " Error: Login failed, received status message, "
                      "closing: StreamState={}, DataState={}".format(state["Stream"],
                                                                     state["Data"]))
                if self.web_socket_open:
                    self.web_socket_app.close()
                self.force_disconnected = True
                return

        self.logged_in = True
        self._send_market_price_request(ric)

    def _process_message(self, message_json):
        """Parse at high level and output JSON of message"""
        message_type = message_json["Type"]

        if message_type == "Refresh" or message_type == "Status":
            if "Domain" in message_json:
                message_domain = message_json["Domain"]
                if message_domain == "Login":
                    self._process_login_response(message_json)
        elif message_type == "Ping":
            pong_json = {"Type": "Pong"}
            self.web_socket_app.send(json.dumps(pong_json))
            print(str(datetime.now()) + " SENT on " + self.session_name + ":")
            print(json.dumps(pong_json, sort_keys=True, indent=2, separators=(",", ":")))

    # Callback events from WebSocketApp
    def _on_message(self, ws, message):
        """Called when message received, parse message into JSON for processing"""
        print(str(datetime.now()) + " RECEIVED on " + self.session_name + ":")
        if isinstance(message, bytes):
            message = message.decode("ISO-8859-1").encode("utf-8")
        message_json = json.loads(message)
        print(json.dumps(message_json, sort_keys=True, indent=2, separators=(",", ":")))

        for singleMsg in message_json:
            self._process_message(singleMsg)

    def _on_error(self, ws, error):
        """Called when websocket error has occurred"""
        print(str(datetime.now()) + " " + str(self.session_name) + ": Error: " + str(error))

    def _on_close(self, ws, close_status_code=None, close_msg=None):
        """Called when websocket is closed"""
        self.web_socket_open = False
        self.logged_in = False
        print(str(datetime.now()) + " " + str(self.session_name) + ": WebSocket Closed")
        print()

    def _on_open(self, ws):
        """Called when handshake is complete and websocket is open, send login"""
        print(str(datetime.now()) + " " + str(self.session_name)
              + ": WebSocket successfully connected!")
        self.web_socket_open = True
        self._send_login_request(sts_token)

    # Operations
    def connect(self):
        # Start websocket handshake
        ws_address = "wss://{}/WebSocket".format(self.host)
        if not self.reconnecting:
            print(str(datetime.now()) + " " + str(self.session_name)
                  + ": Connecting WebSocket to " + ws_address + "...")
        else:
            print(str(datetime.now()) + " " + str(self.session_name)
                  + ": Reconnecting WebSocket to " + ws_address + "...")
        self.web_socket_app = websocket.WebSocketApp(
            ws_address,
            on_message=self._on_message,
            on_error=self._on_error,
            on_close=self._on_close,
            on_open=self._on_open,
            subprotocols=["tr_json2"],
        )

        # Event loop
        if not self.reconnecting:
            self.wst = threading.Thread(
                target=self.web_socket_app.run_forever,
                kwargs={"sslopt": {"check_hostname": False}},
            )
            self.wst.daemon = True
            self.wst.start()
        else:
            self.web_socket_app.run_forever(sslopt={"check_hostname": False})

    def disconnect(self):
        print(str(datetime.now()) + " " + str(self.session_name)
              + ": Closing the WebSocket connection")
        self.force_disconnected = True
        if self.web_socket_open:
            self.web_socket_app.close()


def query_service_discovery(url=None):
    global hostList
    if url is None:
        url = discovery_url

    print("\n" + str(datetime.now()) + " Sending " + BRAND
          + " service discovery request to ", url, "...\n")

    try:
        r = requests.get(
            url,
            headers={"Authorization": "Bearer " + sts_token},
            params={"transport": "websocket"},
            allow_redirects=False,
        )
    except requests.exceptions.RequestException as e:
        print(BRAND + " service discovery exception failure:", e)
        return False

    if r.status_code == 200:
        # Authentication was successful. Deserialize the response.
        response_json = r.json()
        print(str(datetime.now()) + " " + BRAND + " Service discovery succeeded. RECEIVED:")
        print(json.dumps(response_json, sort_keys=True, indent=2, separators=(",", ":")))

        for index in range(len(response_json["services"])):
            entry = response_json["services"][index]
            if not entry["location"][0].startswith(region):
                continue

            if not hotstandby:
                if len(entry["location"]) >= 2:
                    hostList.append(entry["endpoint"] + ":" + str(entry["port"]))
                    continue
                if len(entry["location"]) == 1:
                    backupHostList.append(entry["endpoint"] + ":" + str(entry["port"]))
                    continue
            else:
                if len(entry["location"]) == 1:
                    hostList.append(entry["endpoint"] + ":" + str(entry["port"]))

        if hotstandby:
            if len(hostList) < 2:
                print("Expected 2 hosts but received:", len(hostList), "or the region:",
                      region, "is not present in list of endpoints")
                sys.exit(1)
        else:
            if len(hostList) == 0:
                if len(backupHostList) > 0:
                    hostList = backupHostList
                else:
                    print("The region:", region, "is not present in list of endpoints")
                    sys.exit(1)

        return True

    elif r.status_code in (301, 302, 303, 307, 308):
        # Perform URL redirect
        print(BRAND + " service discovery HTTP code:", r.status_code, r.reason)
        new_host = r.headers.get("Location")
        if new_host is not None:
            print("Perform URL redirect to ", new_host)
            return query_service_discovery(new_host)
        return False
    elif r.status_code in (403, 404, 410, 451):
        # Stop trying with the request
        print(BRAND + " service discovery HTTP code:", r.status_code, r.reason)
        print("Unrecoverable error when performing service discovery: stopped retrying request")
        return False
    else:
        # Retry the service discovery request
        print(BRAND + " service discovery HTTP code:", r.status_code, r.reason)
        print("Retrying the service discovery request after 5 seconds...")
        time.sleep(5)
        return query_service_discovery(url)


def create_client_assertion():
    """A signed JWT that proves the client holds the private key of the JWK file"""
    with open(jwk_file) as f:
        key = jwk.JWK.from_json(f.read())
    now = int(time.time())
    header = {"alg": key.get("alg"), "typ": "JWT", "kid": key.get("kid")}
    claims = {
        "iss": clientid,
        "sub": clientid,
        "aud": audience,
        "exp": now + 3600,
        "iat": now,
    }
    token = jwt.JWT(header=header, claims=claims)
    token.make_signed_token(key)
    return token.serialize()


def get_auth_token(url=None):
    """Retrieves an access token with the client credentials grant and a JWT assertion"""
    global token_ts
    if url is None:
        url = auth_url

    data = {
        "grant_type": "client_credentials",
        "scope": scope,
        "client_id": clientid,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": create_client_assertion(),
    }

    print("\n" + str(datetime.now())
          + " Sending authentication request with client credentials to ", url, "...\n")
    try:
        # Request with auth for https protocol
        r = requests.post(
            url,
            headers={"Accept": "application/json"},
            data=data,
            verify=True,
            allow_redirects=False,
        )
    except requests.exceptions.RequestException as e:
        print(BRAND + " authentication exception failure:", e)
        return None, None

    if r.status_code == 200:
        auth_json = r.json()
        print(str(datetime.now()) + " " + BRAND + " Authentication succeeded. RECEIVED:")
        print(json.dumps(auth_json, sort_keys=True, indent=2, separators=(",", ":")))
        token_ts = time.time()
        return auth_json["access_token"], auth_json["expires_in"]
    elif r.status_code in (301, 302, 307, 308):
        # Perform URL redirect
        print(BRAND + " authentication HTTP code:", r.status_code, r.reason)
        new_host = r.headers.get("Location")
        if new_host is not None:
            print("Perform URL redirect to ", new_host)
            return get_auth_token(new_host)
        return None, None
    elif r.status_code in (400, 401, 403, 404, 410, 451):
        # Stop trying with the request
        print(BRAND + " authentication HTTP code:", r.status_code, r.reason)
        print("Unrecoverable error: stopped retrying request")
        return None, None
    else:
        # Retry the request to the API gateway
        print(BRAND + " authentication HTTP code:", r.status_code, r.reason)
        print("Retrying auth request after 5 seconds...")
        time.sleep(5)
        return get_auth_token(url)


def token_about_to_expire():
    """True once the token is within its renewal margin (5 %, or 300 s for long tokens)"""
    lifetime = int(float(expire_time))
    if lifetime < 600:
        delta = lifetime * 0.05
    else:
        delta = 300
    return time.time() >= token_ts + lifetime - delta


def usage():
    print("Usage: market_price_rto_jwt_auth.py [--hostname hostname] [--port port] "
          "[--standbyhostname hostname] [--standbyport port] [--app_id app_id] "
          "[--clientid clientid] [--jwkFile jwk file] [--aud audience] [--position position] "
          "[--auth_url auth_url] [--discovery_url discovery_url] [--scope scope] "
          "[--region region] [--ric ric] [--service service] [--hotstandby] [--help]")


if __name__ == "__main__":
    # Get command line parameters
    opts = []
    try:
        opts, args = getopt.getopt(
            sys.argv[1:],
            "",
            [
                "help",
                "hostname=",
                "port=",
                "standbyhostname=",
                "standbyport=",
                "app_id=",
                "clientid=",
                "jwkFile=",
                "aud=",
                "position=",
                "auth_url=",
                "discovery_url=",
                "scope=",
                "region=",
                "ric=",
                "service=",
                "hotstandby",
            ],
        )
    except getopt.GetoptError:
        usage()
        sys.exit(2)
    for opt, arg in opts:
        if opt in "--help":
            usage()
            sys.exit(0)
        elif opt in "--hostname":
            hostname = arg
        elif opt in "--port":
            port = arg
        elif opt in "--standbyhostname":
            standbyhostname = arg
        elif opt in "--standbyport":
            standbyport = arg
        elif opt in "--app_id":
            app_id = arg
        elif opt in "--clientid":
            clientid = arg
        elif opt in "--jwkFile":
            jwk_file = arg
        elif opt in "--aud":
            audience = arg
        elif opt in "--position":
            position = arg
        elif opt in "--auth_url":
            auth_url = arg
        elif opt in "--discovery_url":
            discovery_url = arg
        elif opt in "--scope":
            scope = arg
        elif opt in "--region":
            region = arg
        elif opt in "--ric":
            ric = arg
        elif opt in "--service":
            service = arg
        elif opt in "--hotstandby":
            hotstandby = True

    if clientid == "" or jwk_file == "":
        print("clientid and client JWK are required options")
        sys.exit(2)

    if position == "":
        # Populate position if possible
        try:
            position_host = socket.gethostname()
            position = socket.gethostbyname(position_host) + "/" + position_host
        except socket.gaierror:
            position = "127.0.0.1/net"

    sts_token, expire_time = get_auth_token()
    if not sts_token:
        print("Failed initial authentication with " + BRAND + ". Exiting...")
        sys.exit(1)

    # A host given on the command line skips the service discovery.
    if hostname != "":
        hostList.append(hostname + ":" + str(port))
        if standbyhostname != "":
            hostList.append(standbyhostname + ":" + str(standbyport))
    elif not query_service_discovery():
        print("Failed to retrieve endpoints from " + BRAND + " Service Discovery. Exiting...")
        sys.exit(1)

    # Start websocket handshake; create two sessions when the hotstandby parameter is given.
    session1 = WebSocketSession("Session1", hostList[0])
    session1.connect()

    if hotstandby and len(hostList) > 1:
        session2 = WebSocketSession("Session2", hostList[1])
        session2.connect()

    try:
        while True:
            time.sleep(5)
            for session in (session1, session2):
                if session is None:
                    continue
                if not session.web_socket_open and not session.force_disconnected:
                    # A new token only if the current one is about to expire.
                    if token_about_to_expire():
                        sts_token, expire_time = get_auth_token()
                        if not sts_token:
                            sys.exit(1)
                    session.reconnecting = True
                    session.connect()
    except KeyboardInterrupt:
        session1.disconnect()
        if hotstandby:
            session2.disconnect()
